const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { deployBank, authorize, asStruct, sign, US, YEAR } = require("./fixtures");
const { shouldBehaveLikeERC20 } = require("./behaviours/ERC20.behaviour");

const MAX96 = (1n << 96n) - 1n;

describe("DepositToken", function () {
  describe("as an ERC-20", function () {
    shouldBehaveLikeERC20(async () => {
      const bank = await loadFixture(deployBank);
      return { token: bank.token, holder: bank.alice, other: bank.bob, spender: bank.carol };
    }, 1000_00n);
  });

  describe("metadata", function () {
    it("uses the currency's ISO 4217 exponent as decimals and names its currency", async function () {
      const { token } = await loadFixture(deployBank);
      expect(await token.decimals()).to.equal(2);
      expect(await token.currency()).to.equal("USD");
      expect(await token.symbol()).to.equal("dUSD");
      expect(await token.name()).to.equal("Test Bank USD Deposit");
    });

    it("deploys a zero-decimal token for JPY", async function () {
      const { registry, admin } = await loadFixture(deployBank);
      const jpy = await ethers.deployContract("DepositToken", ["Bank JPY", "dJPY", "JPY", 0, admin, registry]);
      expect(await jpy.decimals()).to.equal(0);
    });

    it("refuses a zero admin or registry at deployment", async function () {
      const { token, registry, admin } = await loadFixture(deployBank);
      const Factory = await ethers.getContractFactory("DepositToken");
      await expect(Factory.deploy("n", "s", "USD", 2, ethers.ZeroAddress, registry))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
      await expect(Factory.deploy("n", "s", "USD", 2, admin, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
    });
  });

  describe("roles", function () {
    const guarded = [
      ["configureMinter", "DEFAULT_ADMIN_ROLE", (b) => [b.carol.address, 1n]],
      ["removeMinter", "DEFAULT_ADMIN_ROLE", (b) => [b.minter.address]],
      ["setRegistry", "DEFAULT_ADMIN_ROLE", (b) => [b.carol.address]],
      ["mint", "MINTER_ROLE", (b) => [b.alice.address, 1n]],
      ["burn", "BURNER_ROLE", () => [1n]],
      ["pause", "PAUSER_ROLE", () => []],
      ["unpause", "PAUSER_ROLE", () => []],
      ["freeze", "COMPLIANCE_ROLE", (b) => [b.alice.address]],
      ["unfreeze", "COMPLIANCE_ROLE", (b) => [b.alice.address]],
      ["setFrozenAmount", "COMPLIANCE_ROLE", (b) => [b.alice.address, 1n]],
      ["forcedTransfer", "COMPLIANCE_ROLE", (b) => [b.alice.address, b.bob.address, 1n, 1, ethers.ZeroHash]],
      ["recoverAccount", "COMPLIANCE_ROLE", (b) => [b.alice.address, b.carol.address, ethers.ZeroHash]],
    ];
    for (const [fn, role, args] of guarded) {
      it(`${fn} needs ${role}`, async function () {
        const bank = await loadFixture(deployBank);
        const roleId = await bank.token[role]();
        await expect(bank.token.connect(bank.outsider)[fn](...args(bank)))
          .to.be.revertedWithCustomError(bank.token, "AccessControlUnauthorizedAccount")
          .withArgs(bank.outsider.address, roleId);
      });
    }

    it("lets the admin grant and revoke roles", async function () {
      const { token, admin, carol } = await loadFixture(deployBank);
      const role = await token.PAUSER_ROLE();
      await expect(token.connect(admin).grantRole(role, carol)).to.emit(token, "RoleGranted");
      expect(await token.hasRole(role, carol)).to.equal(true);
      await token.connect(admin).revokeRole(role, carol);
      expect(await token.hasRole(role, carol)).to.equal(false);
    });
  });

  describe("minters", function () {
    it("mints within the allowance and decreases it", async function () {
      const { token, minter, alice } = await loadFixture(deployBank);
      const before = await token.minterAllowance(minter);
      await expect(token.connect(minter).mint(alice, 5_00n))
        .to.emit(token, "Minted")
        .withArgs(minter.address, alice.address, 5_00n)
        .and.to.emit(token, "Transfer")
        .withArgs(ethers.ZeroAddress, alice.address, 5_00n);
      expect(await token.minterAllowance(minter)).to.equal(before - 5_00n);
    });

    it("refuses a mint above the allowance with DepositTokenMinterAllowanceExceeded", async function () {
      const { token, minter, alice } = await loadFixture(deployBank);
      const allowance = await token.minterAllowance(minter);
      await expect(token.connect(minter).mint(alice, allowance + 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenMinterAllowanceExceeded")
        .withArgs(minter.address, allowance, allowance + 1n);
    });

    it("refuses a mint past 2^96 - 1 total supply with DepositTokenSupplyOverflow", async function () {
      const { token, admin, minter, alice } = await loadFixture(deployBank);
      await token.connect(admin).configureMinter(minter, ethers.MaxUint256);
      const supply = await token.totalSupply();
      await expect(token.connect(minter).mint(alice, MAX96 - supply + 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenSupplyOverflow")
        .withArgs(supply, MAX96 - supply + 1n);
      await token.connect(minter).mint(alice, MAX96 - supply);
      expect(await token.totalSupply()).to.equal(MAX96);
    });

    it("refuses a mint to an address that is not KYC-verified", async function () {
      const { token, minter, outsider } = await loadFixture(deployBank);
      await expect(token.connect(minter).mint(outsider, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified")
        .withArgs(outsider.address);
    });

    it("refuses a mint to the zero address", async function () {
      const { token, minter } = await loadFixture(deployBank);
      await expect(token.connect(minter).mint(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
    });

    it("configures, replaces and removes a minter", async function () {
      const { token, admin, carol } = await loadFixture(deployBank);
      await expect(token.connect(admin).configureMinter(carol, 10n))
        .to.emit(token, "MinterConfigured").withArgs(carol.address, 10n);
      expect(await token.hasRole(await token.MINTER_ROLE(), carol)).to.equal(true);
      await token.connect(admin).configureMinter(carol, 3n);
      expect(await token.minterAllowance(carol)).to.equal(3n);
      await expect(token.connect(admin).removeMinter(carol)).to.emit(token, "MinterRemoved").withArgs(carol.address);
      expect(await token.minterAllowance(carol)).to.equal(0n);
      expect(await token.hasRole(await token.MINTER_ROLE(), carol)).to.equal(false);
    });

    it("refuses to configure the zero address as minter", async function () {
      const { token, admin } = await loadFixture(deployBank);
      await expect(token.connect(admin).configureMinter(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
    });
  });

  describe("burn", function () {
    it("burns the burner's own balance and lowers the supply", async function () {
      const { token, burner } = await loadFixture(deployBank);
      const supply = await token.totalSupply();
      await expect(token.connect(burner).burn(40_00n))
        .to.emit(token, "Burned").withArgs(burner.address, 40_00n)
        .and.to.emit(token, "Transfer").withArgs(burner.address, ethers.ZeroAddress, 40_00n);
      expect(await token.balanceOf(burner)).to.equal(60_00n);
      expect(await token.totalSupply()).to.equal(supply - 40_00n);
    });

    it("refuses to burn more than the balance", async function () {
      const { token, burner } = await loadFixture(deployBank);
      await expect(token.connect(burner).burn(100_01n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
        .withArgs(burner.address, 100_00n, 100_01n);
    });

    it("refuses to burn frozen funds", async function () {
      const { token, burner, officer } = await loadFixture(deployBank);
      await token.connect(officer).setFrozenAmount(burner, 30_00n);
      await expect(token.connect(burner).burn(70_01n))
        .to.be.revertedWithCustomError(token, "DepositTokenInsufficientUnfrozenBalance")
        .withArgs(burner.address, 70_00n, 70_01n);
    });
  });

  describe("pause", function () {
    it("stops transfers, mints, burns and authorizations, and resumes them", async function () {
      const { token, pauser, minter, burner, alice, bob, relayer } = await loadFixture(deployBank);
      await expect(token.connect(pauser).pause()).to.emit(token, "Paused").withArgs(pauser.address);
      await expect(token.connect(alice).transfer(bob, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(token.connect(minter).mint(bob, 1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      await expect(token.connect(burner).burn(1n)).to.be.revertedWithCustomError(token, "EnforcedPause");
      const a = await authorize(alice, token, { to: bob.address, value: 1n });
      await expect(
        token.connect(relayer).transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.v, a.r, a.s)
      ).to.be.revertedWithCustomError(token, "EnforcedPause");
      await token.connect(pauser).unpause();
      await token.connect(alice).transfer(bob, 1n);
      expect(await token.balanceOf(bob)).to.equal(500_01n);
    });

    it("refuses to unpause when not paused with ExpectedPause", async function () {
      const { token, pauser } = await loadFixture(deployBank);
      await expect(token.connect(pauser).unpause()).to.be.revertedWithCustomError(token, "ExpectedPause");
    });
  });

  describe("KYC allowlist", function () {
    it("refuses a transfer to an unverified receiver", async function () {
      const { token, alice, outsider } = await loadFixture(deployBank);
      await expect(token.connect(alice).transfer(outsider, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified")
        .withArgs(outsider.address);
    });

    it("refuses a transfer from a sender whose KYC was revoked", async function () {
      const { token, registry, officer, alice, bob } = await loadFixture(deployBank);
      await registry.connect(officer).revokeKyc(alice);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified")
        .withArgs(alice.address);
    });

    it("refuses movements to and from a blocked address", async function () {
      const { token, registry, officer, alice, bob } = await loadFixture(deployBank);
      await registry.connect(officer).setBlocked(bob, true);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountBlocked").withArgs(bob.address);
      await expect(token.connect(bob).transfer(alice, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountBlocked").withArgs(bob.address);
      await registry.connect(officer).setBlocked(bob, false);
      await token.connect(bob).transfer(alice, 1n);
    });

    it("refuses movements once KYC expired, with the expiry", async function () {
      const { token, alice, bob, expiry } = await loadFixture(deployBank);
      await time.increaseTo(expiry);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenKycExpired")
        .withArgs(alice.address, expiry);
    });

    it("caches the registry's status with jurisdiction and expiry", async function () {
      const { token, registry, officer, carol, expiry } = await loadFixture(deployBank);
      await expect(registry.connect(officer).setKyc(carol, expiry + 10, 276))
        .to.emit(token, "ComplianceCached").withArgs(carol.address, true, false, expiry + 10, 276);
      const status = await token.cachedStatusOf(carol);
      expect([status.verified, status.blocked, status.expiry, status.jurisdiction]).to.deep.equal([true, false, BigInt(expiry + 10), 276n]);
      expect(await token.isAllowed(carol)).to.equal(true);
    });

    it("only the registry may push a status", async function () {
      const { token, outsider } = await loadFixture(deployBank);
      await expect(token.connect(outsider).applyCompliance(outsider, [true, false, 2n ** 40n - 1n, US]))
        .to.be.revertedWithCustomError(token, "DepositTokenCallerNotRegistry").withArgs(outsider.address);
    });

    it("pulls statuses verified before the token followed the registry", async function () {
      const { token, registry, admin, officer, outsider } = await loadFixture(deployBank);
      const other = await ethers.deployContract("ComplianceRegistry", [admin.address]);
      await other.grantRole(await other.COMPLIANCE_ROLE(), officer);
      const expiry = (await time.latest()) + YEAR;
      await other.connect(officer).setKyc(outsider, expiry, US);
      await expect(token.connect(admin).setRegistry(other))
        .to.emit(token, "RegistryChanged").withArgs(await registry.getAddress(), await other.getAddress());
      expect(await token.isAllowed(outsider)).to.equal(false);
      await token.connect(outsider).syncCompliance([outsider]);
      expect(await token.isAllowed(outsider)).to.equal(false); // not attached: nothing counts yet
      await other.connect(admin).attachToken(token);
      await token.connect(outsider).syncCompliance([outsider]);
      expect(await token.isAllowed(outsider)).to.equal(true);
    });

    it("refuses a zero registry", async function () {
      const { token, admin } = await loadFixture(deployBank);
      await expect(token.connect(admin).setRegistry(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
    });

    it("refuses to cache a status for the zero address", async function () {
      const { token, outsider } = await loadFixture(deployBank);
      await expect(token.connect(outsider).syncCompliance([ethers.ZeroAddress]))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
    });
  });

  describe("freezes", function () {
    it("stops a frozen account from sending but lets it receive", async function () {
      const { token, officer, alice, bob } = await loadFixture(deployBank);
      await expect(token.connect(officer).freeze(alice)).to.emit(token, "AccountFrozen").withArgs(alice.address);
      expect(await token.isFrozen(alice)).to.equal(true);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountFrozen").withArgs(alice.address);
      await token.connect(bob).transfer(alice, 1n);
      await expect(token.connect(officer).unfreeze(alice)).to.emit(token, "AccountUnfrozen").withArgs(alice.address);
      await token.connect(alice).transfer(bob, 1n);
    });

    it("keeps a frozen part of the balance from moving", async function () {
      const { token, officer, alice, bob } = await loadFixture(deployBank);
      await expect(token.connect(officer).setFrozenAmount(alice, 600_00n))
        .to.emit(token, "FrozenAmountChanged").withArgs(alice.address, 0n, 600_00n);
      expect(await token.frozenBalanceOf(alice)).to.equal(600_00n);
      await token.connect(alice).transfer(bob, 400_00n);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenInsufficientUnfrozenBalance")
        .withArgs(alice.address, 0n, 1n);
    });

    it("keeps incoming funds frozen when the frozen amount exceeds the balance", async function () {
      const { token, officer, alice, bob } = await loadFixture(deployBank);
      await token.connect(officer).setFrozenAmount(alice, 1200_00n);
      await token.connect(bob).transfer(alice, 100_00n);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenInsufficientUnfrozenBalance")
        .withArgs(alice.address, 0n, 1n);
      await token.connect(bob).transfer(alice, 100_01n);
      await token.connect(alice).transfer(bob, 1n);
    });

    it("refuses a frozen amount above 2^96 - 1 and a zero account", async function () {
      const { token, officer, alice } = await loadFixture(deployBank);
      await expect(token.connect(officer).setFrozenAmount(alice, MAX96 + 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenFrozenAmountOverflow").withArgs(MAX96 + 1n);
      await expect(token.connect(officer).setFrozenAmount(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
      await expect(token.connect(officer).freeze(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
    });
  });

  describe("forced transfer", function () {
    it("moves funds under a legal order, ignoring pause, freeze and the sender's KYC", async function () {
      const { token, registry, officer, pauser, alice, bob } = await loadFixture(deployBank);
      await token.connect(officer).freeze(alice);
      await registry.connect(officer).setBlocked(alice, true);
      await token.connect(pauser).pause();
      const order = ethers.keccak256(ethers.toUtf8Bytes("court order 42"));
      await expect(token.connect(officer).forcedTransfer(alice, bob, 10_00n, 7, order))
        .to.emit(token, "TransferForced").withArgs(alice.address, bob.address, 10_00n, 7, order)
        .and.to.emit(token, "Transfer").withArgs(alice.address, bob.address, 10_00n);
      expect(await token.balanceOf(alice)).to.equal(990_00n);
      expect(await token.balanceOf(bob)).to.equal(510_00n);
    });

    it("releases exactly the frozen part it takes", async function () {
      const { token, officer, alice, bob } = await loadFixture(deployBank);
      await token.connect(officer).setFrozenAmount(alice, 900_00n);
      await expect(token.connect(officer).forcedTransfer(alice, bob, 150_00n, 1, ethers.ZeroHash))
        .to.emit(token, "FrozenAmountChanged").withArgs(alice.address, 900_00n, 850_00n);
      expect(await token.frozenBalanceOf(alice)).to.equal(850_00n);
      expect(await token.balanceOf(alice)).to.equal(850_00n);
    });

    it("still requires an allowed receiver", async function () {
      const { token, officer, alice, outsider } = await loadFixture(deployBank);
      await expect(token.connect(officer).forcedTransfer(alice, outsider, 1n, 1, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified").withArgs(outsider.address);
    });

    it("refuses more than the balance and zero addresses", async function () {
      const { token, officer, alice, bob } = await loadFixture(deployBank);
      await expect(token.connect(officer).forcedTransfer(alice, bob, 1000_01n, 1, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance").withArgs(alice.address, 1000_00n, 1000_01n);
      await expect(token.connect(officer).forcedTransfer(ethers.ZeroAddress, bob, 1n, 1, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "ERC20InvalidSender").withArgs(ethers.ZeroAddress);
      await expect(token.connect(officer).forcedTransfer(alice, ethers.ZeroAddress, 1n, 1, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "ERC20InvalidReceiver").withArgs(ethers.ZeroAddress);
    });
  });

  describe("recovery", function () {
    it("moves the whole balance, frozen part and freeze to the replacement and freezes the lost address", async function () {
      const { token, officer, alice, carol } = await loadFixture(deployBank);
      await token.connect(officer).setFrozenAmount(alice, 100_00n);
      await token.connect(officer).freeze(alice);
      const order = ethers.id("recovery request 9");
      await expect(token.connect(officer).recoverAccount(alice, carol, order))
        .to.emit(token, "AccountRecovered").withArgs(alice.address, carol.address, 1000_00n, order)
        .and.to.emit(token, "Transfer").withArgs(alice.address, carol.address, 1000_00n);
      expect(await token.balanceOf(alice)).to.equal(0n);
      expect(await token.balanceOf(carol)).to.equal(1000_00n);
      expect(await token.frozenBalanceOf(carol)).to.equal(100_00n);
      expect(await token.frozenBalanceOf(alice)).to.equal(0n);
      expect(await token.isFrozen(alice)).to.equal(true);
      expect(await token.isFrozen(carol)).to.equal(true);
    });

    it("refuses recovery to itself, to zero and to an unverified replacement", async function () {
      const { token, officer, alice, outsider } = await loadFixture(deployBank);
      await expect(token.connect(officer).recoverAccount(alice, alice, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "DepositTokenRecoveryToSelf").withArgs(alice.address);
      await expect(token.connect(officer).recoverAccount(alice, ethers.ZeroAddress, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "DepositTokenZeroAddress");
      await expect(token.connect(officer).recoverAccount(alice, outsider, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified").withArgs(outsider.address);
    });

    it("refuses a recovery whose frozen amounts would overflow", async function () {
      const { token, officer, alice, bob } = await loadFixture(deployBank);
      await token.connect(officer).setFrozenAmount(alice, MAX96);
      await token.connect(officer).setFrozenAmount(bob, 1n);
      await expect(token.connect(officer).recoverAccount(alice, bob, ethers.ZeroHash))
        .to.be.revertedWithCustomError(token, "DepositTokenFrozenAmountOverflow").withArgs(MAX96 + 1n);
    });
  });

  describe("payment references", function () {
    it("emits the reference with the transfer", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const ref = ethers.encodeBytes32String("INV-2026-0042");
      await expect(token.connect(alice).transferWithReference(bob, 12_34n, ref))
        .to.emit(token, "TransferReferenced").withArgs(alice.address, bob.address, 12_34n, ref)
        .and.to.emit(token, "Transfer").withArgs(alice.address, bob.address, 12_34n);
    });
  });

  describe("EIP-2612 permit", function () {
    it("sets an allowance from the owner's signature and uses the nonce", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const deadline = BigInt((await time.latest()) + 3600);
      const message = { owner: alice.address, spender: bob.address, value: 50n, nonce: 0n, deadline };
      const { v, r, s } = await sign(alice, token, "Permit", message);
      await expect(token.connect(relayer).permit(alice, bob, 50n, deadline, v, r, s))
        .to.emit(token, "Approval").withArgs(alice.address, bob.address, 50n);
      expect(await token.allowance(alice, bob)).to.equal(50n);
      expect(await token.nonces(alice)).to.equal(1n);
    });

    it("refuses an expired permit with its deadline", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const deadline = BigInt((await time.latest()) - 1);
      const { v, r, s } = await sign(alice, token, "Permit", { owner: alice.address, spender: bob.address, value: 1n, nonce: 0n, deadline });
      await expect(token.permit(alice, bob, 1n, deadline, v, r, s))
        .to.be.revertedWithCustomError(token, "DepositTokenPermitExpired").withArgs(deadline);
    });

    it("refuses a permit signed by someone else, naming the signer", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const deadline = BigInt((await time.latest()) + 3600);
      const { v, r, s } = await sign(bob, token, "Permit", { owner: alice.address, spender: bob.address, value: 1n, nonce: 0n, deadline });
      await expect(token.permit(alice, bob, 1n, deadline, v, r, s))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature").withArgs(bob.address, alice.address);
    });

    it("refuses a replayed permit", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const deadline = BigInt((await time.latest()) + 3600);
      const { v, r, s } = await sign(alice, token, "Permit", { owner: alice.address, spender: bob.address, value: 1n, nonce: 0n, deadline });
      await token.permit(alice, bob, 1n, deadline, v, r, s);
      await expect(token.permit(alice, bob, 1n, deadline, v, r, s))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature");
    });

    it("exposes the EIP-712 domain separator", async function () {
      const { token } = await loadFixture(deployBank);
      const domain = await require("./fixtures").domainOf(token);
      expect(await token.DOMAIN_SEPARATOR()).to.equal(ethers.TypedDataEncoder.hashDomain(domain));
    });
  });

  describe("EIP-3009", function () {
    function submit(token, a, by) {
      return token.connect(by).transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.v, a.r, a.s);
    }

    it("executes a transfer authorization submitted by a relayer", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 25_00n });
      await expect(submit(token, a, relayer))
        .to.emit(token, "AuthorizationUsed").withArgs(alice.address, a.nonce)
        .and.to.emit(token, "Transfer").withArgs(alice.address, bob.address, 25_00n);
      expect(await token.balanceOf(bob)).to.equal(525_00n);
      expect(await token.authorizationState(alice, a.nonce)).to.equal(true);
    });

    it("refuses a reused nonce", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 1n });
      await submit(token, a, relayer);
      await expect(submit(token, a, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenAuthorizationAlreadyUsed").withArgs(alice.address, a.nonce);
    });

    it("refuses an expired authorization with validBefore and the block time", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const now = await time.latest();
      const a = await authorize(alice, token, { to: bob.address, value: 1n, validBefore: BigInt(now + 10) });
      await time.setNextBlockTimestamp(now + 10);
      await expect(submit(token, a, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenAuthorizationExpired").withArgs(now + 10, now + 10);
    });

    it("refuses an authorization that is not valid yet", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const now = await time.latest();
      const a = await authorize(alice, token, { to: bob.address, value: 1n, validAfter: BigInt(now + 100) });
      await time.setNextBlockTimestamp(now + 50);
      await expect(submit(token, a, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenAuthorizationNotYetValid").withArgs(now + 100, now + 50);
    });

    it("refuses an authorization signed by the wrong key, naming the signer", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(bob, token, { from: alice.address, to: bob.address, value: 1n });
      await expect(submit(token, a, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature").withArgs(bob.address, alice.address);
    });

    it("refuses an authorization whose amount was changed", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 1n });
      await expect(submit(token, { ...a, value: 2n }, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature");
    });

    it("applies the compliance checks to authorized transfers", async function () {
      const { token, officer, alice, bob, relayer } = await loadFixture(deployBank);
      await token.connect(officer).freeze(alice);
      const a = await authorize(alice, token, { to: bob.address, value: 1n });
      await expect(submit(token, a, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountFrozen").withArgs(alice.address);
      expect(await token.authorizationState(alice, a.nonce)).to.equal(false);
    });

    it("receiveWithAuthorization must be submitted by the payee", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 3n, type: "ReceiveWithAuthorization" });
      const call = (by) => token.connect(by).receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.v, a.r, a.s);
      await expect(call(relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenCallerNotPayee").withArgs(relayer.address, bob.address);
      await expect(call(bob)).to.emit(token, "Transfer").withArgs(alice.address, bob.address, 3n);
    });

    it("a transfer signature cannot be used as a receive authorization", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 3n });
      await expect(token.connect(bob).receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.v, a.r, a.s))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature");
    });

    it("cancels an unused authorization, after which it cannot execute", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 1n });
      const c = await sign(alice, token, "CancelAuthorization", { authorizer: alice.address, nonce: a.nonce });
      await expect(token.connect(relayer).cancelAuthorization(alice, a.nonce, c.v, c.r, c.s))
        .to.emit(token, "AuthorizationCanceled").withArgs(alice.address, a.nonce);
      await expect(submit(token, a, relayer))
        .to.be.revertedWithCustomError(token, "DepositTokenAuthorizationAlreadyUsed").withArgs(alice.address, a.nonce);
      await expect(token.connect(relayer).cancelAuthorization(alice, a.nonce, c.v, c.r, c.s))
        .to.be.revertedWithCustomError(token, "DepositTokenAuthorizationAlreadyUsed").withArgs(alice.address, a.nonce);
    });

    it("refuses a cancellation signed by someone else", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const nonce = ethers.id("n");
      const c = await sign(bob, token, "CancelAuthorization", { authorizer: alice.address, nonce });
      await expect(token.cancelAuthorization(alice, nonce, c.v, c.r, c.s))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature").withArgs(bob.address, alice.address);
    });

    it("binds a payment reference into the signature", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const ref = ethers.encodeBytes32String("BILL-7");
      const a = await authorize(alice, token, { to: bob.address, value: 9n, paymentReference: ref });
      await expect(token.connect(relayer).transferWithReferenceAuthorization(asStruct({ ...a, paymentReference: ethers.encodeBytes32String("BILL-8") })))
        .to.be.revertedWithCustomError(token, "DepositTokenInvalidSignature");
      await expect(token.connect(relayer).transferWithReferenceAuthorization(asStruct(a)))
        .to.emit(token, "TransferReferenced").withArgs(alice.address, bob.address, 9n, ref);
    });
  });

  describe("batch of authorizations", function () {
    it("executes every good authorization and reports each failure without sinking the batch", async function () {
      const { token, officer, alice, bob, carol, relayer } = await loadFixture(deployBank);
      const good1 = await authorize(alice, token, { to: bob.address, value: 1_00n });
      const badSig = { ...(await authorize(bob, token, { to: carol.address, value: 1_00n })), value: 5_00n };
      const good2 = await authorize(bob, token, { to: carol.address, value: 2_00n });
      const frozenFrom = await authorize(carol, token, { to: alice.address, value: 1n });
      await token.connect(officer).freeze(carol);
      const tx = token.connect(relayer).batchTransferWithAuthorization([good1, badSig, good2, frozenFrom].map(asStruct));
      const frozenReason = token.interface.encodeErrorResult("DepositTokenAccountFrozen", [carol.address]);
      await expect(tx)
        .to.emit(token, "AuthorizationFailed").withArgs(carol.address, frozenFrom.nonce, frozenReason)
        .and.to.emit(token, "AuthorizationUsed").withArgs(alice.address, good1.nonce)
        .and.to.emit(token, "AuthorizationUsed").withArgs(bob.address, good2.nonce);
      const [succeeded, executed] = await token.connect(relayer).batchTransferWithAuthorization.staticCall([]);
      expect([succeeded, executed]).to.deep.equal([0n, 0n]);
      expect(await token.balanceOf(bob)).to.equal(500_00n + 1_00n - 2_00n);
      expect(await token.balanceOf(carol)).to.equal(2_00n);
      expect(await token.authorizationState(bob, badSig.nonce)).to.equal(false);
      expect(await token.authorizationState(carol, frozenFrom.nonce)).to.equal(false);
    });

    it("returns a bitmap of the authorizations that executed", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const ok = await authorize(alice, token, { to: bob.address, value: 1n });
      const tooMuch = await authorize(alice, token, { to: bob.address, value: 10_000_00n });
      const [succeeded, executed] = await token.connect(relayer).batchTransferWithAuthorization.staticCall([tooMuch, ok].map(asStruct));
      expect(succeeded).to.equal(2n);
      expect(executed).to.equal(1n);
    });

    it("executeAuthorization is callable only by the token itself", async function () {
      const { token, alice, bob, relayer } = await loadFixture(deployBank);
      const a = await authorize(alice, token, { to: bob.address, value: 1n });
      await expect(token.connect(relayer).executeAuthorization(asStruct(a)))
        .to.be.revertedWithCustomError(token, "DepositTokenCallerNotSelf").withArgs(relayer.address);
    });
  });
});

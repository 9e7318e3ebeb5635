// The findings of the contract audit, each reproduced: a compliance cache that must fail closed, a registry
// that one token cannot hold up, the spender of transferFrom, forced transfers to oneself, minter allowances
// that outlive the role, and the tests that mutants survived.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { deployBank, sign, YEAR, US } = require("./fixtures");

async function secondToken(bank) {
  const token = await ethers.deployContract("DepositToken", [
    "Test Bank EUR Deposit", "dEUR", "EUR", 2, bank.admin.address, await bank.registry.getAddress(),
  ]);
  await bank.registry.connect(bank.admin).attachToken(token);
  return token;
}

describe("Review findings", function () {
  describe("a stale compliance cache counts as unverified", function () {
    it("after detachToken: a blocked and revoked address cannot move, nor anyone until re-attached and synced", async function () {
      const { registry, token, admin, officer, alice, bob } = await loadFixture(deployBank);
      await registry.connect(admin).detachToken(token);
      // Not pushed any more: the token's cache still says alice is verified and not blocked.
      await registry.connect(officer).setBlocked(alice, true);
      await registry.connect(officer).revokeKyc(alice);
      expect((await token.cachedStatusOf(alice)).verified).to.equal(true);
      expect(await token.isAllowed(alice)).to.equal(false);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenComplianceStale").withArgs(alice.address);
      await expect(token.connect(bob).transfer(alice, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenComplianceStale").withArgs(bob.address);
      // Re-attached: a new epoch, so what was cached before still does not count ...
      await expect(registry.connect(admin).attachToken(token))
        .to.emit(token, "RegistryLinkChanged").withArgs(await registry.getAddress(), true, 2n);
      await expect(token.connect(bob).transfer(alice, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenComplianceStale").withArgs(bob.address);
      // ... until synced from the registry, which knows alice is blocked.
      await token.syncCompliance([alice, bob]);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountBlocked").withArgs(alice.address);
      await expect(token.connect(bob).transfer(alice, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountBlocked").withArgs(alice.address);
      expect(await token.isAllowed(bob)).to.equal(true);
    });

    it("after setRegistry: nothing counts until the new registry attaches the token and statuses are synced", async function () {
      const { registry, token, admin, officer, alice, bob } = await loadFixture(deployBank);
      const other = await ethers.deployContract("ComplianceRegistry", [admin.address]);
      await other.grantRole(await other.COMPLIANCE_ROLE(), officer);
      await other.connect(officer).setKyc(bob, (await time.latest()) + YEAR, US);
      await expect(token.connect(admin).setRegistry(other))
        .to.emit(token, "RegistryLinkChanged").withArgs(await other.getAddress(), false, 1n);
      expect(await token.registryLink()).to.deep.equal([false, 1n]);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenComplianceStale").withArgs(alice.address);
      await other.connect(admin).attachToken(token);
      await token.syncCompliance([alice, bob]);
      // The new registry never verified alice.
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified").withArgs(alice.address);
      // The old registry still lists the token; its next push fails and detaches it, sanction or not.
      await expect(registry.connect(officer).setBlocked(bob, true))
        .to.emit(registry, "TokenPushFailed").and.to.emit(registry, "TokenDetached").withArgs(await token.getAddress());
      expect(await token.isAllowed(bob)).to.equal(true);
    });

    it("a token can be attached 31 times, after which the epoch would wrap", async function () {
      const { registry, token, admin } = await loadFixture(deployBank);
      for (let i = 1; i < 31; ++i) {
        await registry.connect(admin).detachToken(token);
        await registry.connect(admin).attachToken(token);
      }
      expect(await token.registryLink()).to.deep.equal([true, 31n]);
      await registry.connect(admin).detachToken(token);
      await expect(registry.connect(admin).attachToken(token)).to.be.revertedWithCustomError(token, "DepositTokenRelinkLimit");
    });
  });

  describe("one token cannot hold up a sanction", function () {
    it("attachToken refuses a token that names another registry, and an address without code", async function () {
      const { registry, admin, outsider } = await loadFixture(deployBank);
      const other = await ethers.deployContract("ComplianceRegistry", [admin.address]);
      const foreign = await ethers.deployContract("DepositToken", ["F", "F", "USD", 2, admin.address, await other.getAddress()]);
      await expect(registry.connect(admin).attachToken(foreign))
        .to.be.revertedWithCustomError(registry, "ComplianceRegistryTokenNotLinked").withArgs(await foreign.getAddress());
      await expect(registry.connect(admin).attachToken(outsider))
        .to.be.revertedWithCustomError(registry, "ComplianceRegistryTokenNotLinked").withArgs(outsider.address);
      await expect(registry.connect(admin).attachToken(other))
        .to.be.revertedWithCustomError(registry, "ComplianceRegistryTokenNotLinked").withArgs(await other.getAddress());
    });

    it("a token that refuses the push is detached and logged, and the others get the block", async function () {
      const bank = await loadFixture(deployBank);
      const { registry, token, admin, officer, alice } = bank;
      const eur = await secondToken(bank);
      await eur.syncCompliance([alice]);
      const other = await ethers.deployContract("ComplianceRegistry", [admin.address]);
      await token.connect(admin).setRegistry(other); // the USD token now refuses this registry's pushes
      const refusal = token.interface.encodeErrorResult("DepositTokenCallerNotRegistry", [await registry.getAddress()]);
      await expect(registry.connect(officer).setBlocked(alice, true))
        .to.emit(registry, "TokenPushFailed").withArgs(await token.getAddress(), alice.address, refusal);
      expect(await registry.tokens()).to.deep.equal([await eur.getAddress()]);
      expect((await eur.cachedStatusOf(alice)).blocked).to.equal(true);
      await expect(registry.connect(officer).revokeKyc(alice)).to.not.be.reverted;
    });

    it("too little gas reverts the write instead of passing for a token's failure", async function () {
      const bank = await loadFixture(deployBank);
      const { registry, officer, alice } = bank;
      await secondToken(bank);
      const estimate = await registry.connect(officer).setBlocked.estimateGas(alice, true);
      await expect(registry.connect(officer).setBlocked(alice, true, { gasLimit: 150_000n }))
        .to.be.revertedWithCustomError(registry, "ComplianceRegistryOutOfGas");
      await expect(registry.connect(officer).setBlocked(alice, true, { gasLimit: estimate }))
        .to.not.emit(registry, "TokenPushFailed");
      expect((await registry.tokens()).length).to.equal(2);
    });
  });

  describe("transferFrom checks the spender", function () {
    it("an unverified spender cannot use an allowance", async function () {
      const { token, alice, bob, outsider } = await loadFixture(deployBank);
      await token.connect(alice).approve(outsider, 10n);
      await expect(token.connect(outsider).transferFrom(alice, bob, 10n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountNotVerified").withArgs(outsider.address);
    });

    it("a spender blocked after a permit cannot use it", async function () {
      const { token, registry, officer, alice, bob, carol } = await loadFixture(deployBank);
      const deadline = BigInt((await time.latest()) + 3600);
      const message = { owner: alice.address, spender: carol.address, value: 10n, nonce: 0n, deadline };
      const { v, r, s } = await sign(alice, token, "Permit", message);
      await token.permit(alice, carol, 10n, deadline, v, r, s);
      await registry.connect(officer).setBlocked(carol, true);
      await expect(token.connect(carol).transferFrom(alice, bob, 10n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountBlocked").withArgs(carol.address);
      await registry.connect(officer).setBlocked(carol, false);
      await expect(token.connect(carol).transferFrom(alice, bob, 10n)).to.changeTokenBalances(token, [alice, bob], [-10n, 10n]);
    });
  });

  it("a forced transfer to the same address is refused", async function () {
    const { token, officer, alice } = await loadFixture(deployBank);
    await token.connect(officer).setFrozenAmount(alice, 500_00n);
    await expect(token.connect(officer).forcedTransfer(alice, alice, 800_00n, 1, ethers.ZeroHash))
      .to.be.revertedWithCustomError(token, "DepositTokenTransferToSelf").withArgs(alice.address);
    expect(await token.frozenBalanceOf(alice)).to.equal(500_00n);
  });

  it("revoking MINTER_ROLE by revokeRole clears the allowance, so a later grant does not revive it", async function () {
    const { token, admin, minter, alice } = await loadFixture(deployBank);
    const role = await token.MINTER_ROLE();
    await expect(token.connect(admin).revokeRole(role, minter)).to.emit(token, "MinterRemoved").withArgs(minter.address);
    expect(await token.minterAllowance(minter)).to.equal(0n);
    await token.connect(admin).grantRole(role, minter);
    await expect(token.connect(minter).mint(alice, 1n))
      .to.be.revertedWithCustomError(token, "DepositTokenMinterAllowanceExceeded").withArgs(minter.address, 0n, 1n);
    await token.connect(minter).renounceRole(role, minter); // renouncing clears it too
    expect(await token.minterAllowance(minter)).to.equal(0n);
  });

  describe("what mutants survived", function () {
    it("KYC expiry: valid until the second before expiry, refused at it (<= vs <)", async function () {
      const { token, registry, officer, alice, bob } = await loadFixture(deployBank);
      const expiry = (await time.latest()) + 1000;
      await registry.connect(officer).setKyc(alice, expiry, US);
      await time.setNextBlockTimestamp(expiry - 1);
      await token.connect(alice).transfer(bob, 1n);
      await time.setNextBlockTimestamp(expiry);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenKycExpired").withArgs(alice.address, expiry);
    });

    it("a registry push keeps the token's own freeze", async function () {
      const { token, registry, officer, alice, bob } = await loadFixture(deployBank);
      await token.connect(officer).freeze(alice);
      await registry.connect(officer).setKyc(alice, (await time.latest()) + YEAR, 276);
      await registry.connect(officer).setBlocked(alice, false);
      expect(await token.isFrozen(alice)).to.equal(true);
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountFrozen").withArgs(alice.address);
    });

    it("recovery freezes the lost key, which was not frozen before", async function () {
      const { token, officer, minter, alice, carol, bob } = await loadFixture(deployBank);
      expect(await token.isFrozen(alice)).to.equal(false);
      await expect(token.connect(officer).recoverAccount(alice, carol, ethers.ZeroHash))
        .to.emit(token, "AccountFrozen").withArgs(alice.address);
      expect(await token.isFrozen(alice)).to.equal(true);
      await token.connect(minter).mint(alice, 1n); // whatever reaches the lost key stays there
      await expect(token.connect(alice).transfer(bob, 1n))
        .to.be.revertedWithCustomError(token, "DepositTokenAccountFrozen").withArgs(alice.address);
    });

    it("a payment reference is logged right after its Transfer", async function () {
      const { token, alice, bob } = await loadFixture(deployBank);
      const reference = ethers.encodeBytes32String("INV-1");
      const receipt = await (await token.connect(alice).transferWithReference(bob, 5n, reference)).wait();
      const names = receipt.logs.map((log) => token.interface.parseLog(log).name);
      expect(names).to.deep.equal(["Transfer", "TransferReferenced"]);
      expect(receipt.logs[1].index).to.equal(receipt.logs[0].index + 1);
    });
  });
});

const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { deployBank, US, YEAR } = require("./fixtures");

describe("ComplianceRegistry", function () {
  it("records KYC with expiry and jurisdiction and pushes it to every attached token", async function () {
    const { registry, token, admin, officer, outsider } = await loadFixture(deployBank);
    const second = await ethers.deployContract("DepositToken", ["Bank EUR", "dEUR", "EUR", 2, admin, registry]);
    await expect(registry.connect(admin).attachToken(second)).to.emit(registry, "TokenAttached").withArgs(await second.getAddress());
    const expiry = (await time.latest()) + YEAR;
    await expect(registry.connect(officer).setKyc(outsider, expiry, 276))
      .to.emit(registry, "KycUpdated").withArgs(outsider.address, true, expiry, 276);
    expect(await registry.isAllowed(outsider)).to.equal(true);
    expect(await token.isAllowed(outsider)).to.equal(true);
    expect(await second.isAllowed(outsider)).to.equal(true);
    const status = await registry.statusOf(outsider);
    expect([status.verified, status.blocked, status.expiry, status.jurisdiction]).to.deep.equal([true, false, BigInt(expiry), 276n]);
    expect(await registry.tokens()).to.deep.equal([await token.getAddress(), await second.getAddress()]);
  });

  it("revokes KYC and blocks addresses in every token", async function () {
    const { registry, token, officer, alice } = await loadFixture(deployBank);
    await expect(registry.connect(officer).revokeKyc(alice)).to.emit(registry, "KycUpdated").withArgs(alice.address, false, 0, US);
    expect(await token.isAllowed(alice)).to.equal(false);
    expect(await registry.isAllowed(alice)).to.equal(false);
    await expect(registry.connect(officer).setBlocked(alice, true)).to.emit(registry, "BlockedUpdated").withArgs(alice.address, true);
    expect((await token.cachedStatusOf(alice)).blocked).to.equal(true);
  });

  it("stops pushing to a detached token", async function () {
    const { registry, token, admin, officer, outsider } = await loadFixture(deployBank);
    await expect(registry.connect(admin).detachToken(token)).to.emit(registry, "TokenDetached").withArgs(await token.getAddress());
    await registry.connect(officer).setKyc(outsider, (await time.latest()) + YEAR, US);
    expect(await token.isAllowed(outsider)).to.equal(false);
  });

  it("refuses an expiry that is not in the future, with the block time", async function () {
    const { registry, officer, outsider } = await loadFixture(deployBank);
    const now = await time.latest();
    await time.setNextBlockTimestamp(now + 5);
    await expect(registry.connect(officer).setKyc(outsider, now + 5, US))
      .to.be.revertedWithCustomError(registry, "ComplianceRegistryExpiryInPast").withArgs(now + 5, now + 5);
  });

  it("refuses zero addresses", async function () {
    const { registry, admin, officer } = await loadFixture(deployBank);
    const far = (await time.latest()) + YEAR;
    await expect(registry.connect(officer).setKyc(ethers.ZeroAddress, far, US)).to.be.revertedWithCustomError(registry, "ComplianceRegistryZeroAddress");
    await expect(registry.connect(officer).revokeKyc(ethers.ZeroAddress)).to.be.revertedWithCustomError(registry, "ComplianceRegistryZeroAddress");
    await expect(registry.connect(officer).setBlocked(ethers.ZeroAddress, true)).to.be.revertedWithCustomError(registry, "ComplianceRegistryZeroAddress");
    await expect(registry.connect(admin).attachToken(ethers.ZeroAddress)).to.be.revertedWithCustomError(registry, "ComplianceRegistryZeroAddress");
    await expect(ethers.deployContract("ComplianceRegistry", [ethers.ZeroAddress])).to.be.revertedWithCustomError(registry, "ComplianceRegistryZeroAddress");
  });

  it("refuses to attach a token twice or detach one that is not attached", async function () {
    const { registry, token, admin, outsider } = await loadFixture(deployBank);
    await expect(registry.connect(admin).attachToken(token))
      .to.be.revertedWithCustomError(registry, "ComplianceRegistryTokenAlreadyAttached").withArgs(await token.getAddress());
    await expect(registry.connect(admin).detachToken(outsider))
      .to.be.revertedWithCustomError(registry, "ComplianceRegistryTokenNotAttached").withArgs(outsider.address);
  });

  it("refuses batches whose arrays differ in length", async function () {
    const { registry, officer, alice, bob } = await loadFixture(deployBank);
    const far = (await time.latest()) + YEAR;
    await expect(registry.connect(officer).setKycBatch([alice, bob], [far], [US, US]))
      .to.be.revertedWithCustomError(registry, "ComplianceRegistryLengthMismatch").withArgs(2, 1);
    await expect(registry.connect(officer).setKycBatch([alice, bob], [far, far], [US]))
      .to.be.revertedWithCustomError(registry, "ComplianceRegistryLengthMismatch").withArgs(2, 1);
  });

  const guarded = [
    ["setKyc", "COMPLIANCE_ROLE", (b) => [b.outsider.address, 2n ** 40n - 1n, US]],
    ["setKycBatch", "COMPLIANCE_ROLE", (b) => [[b.outsider.address], [2n ** 40n - 1n], [US]]],
    ["revokeKyc", "COMPLIANCE_ROLE", (b) => [b.alice.address]],
    ["setBlocked", "COMPLIANCE_ROLE", (b) => [b.alice.address, true]],
    ["attachToken", "DEFAULT_ADMIN_ROLE", (b) => [b.outsider.address]],
    ["detachToken", "DEFAULT_ADMIN_ROLE", (b) => [b.outsider.address]],
  ];
  for (const [fn, role, args] of guarded) {
    it(`${fn} needs ${role}`, async function () {
      const bank = await loadFixture(deployBank);
      await expect(bank.registry.connect(bank.outsider)[fn](...args(bank)))
        .to.be.revertedWithCustomError(bank.registry, "AccessControlUnauthorizedAccount")
        .withArgs(bank.outsider.address, await bank.registry[role]());
    });
  }
});

const { expect } = require("chai");
const { ethers } = require("hardhat");

describe("AuditAnchor", function () {
  async function deploy() {
    const [admin, anchorer, outsider] = await ethers.getSigners();
    const anchor = await ethers.deployContract("AuditAnchor", [admin.address]);
    await anchor.grantRole(await anchor.ANCHOR_ROLE(), anchorer);
    return { anchor, admin, anchorer, outsider };
  }
  const HEAD = "0x" + "ab".repeat(32);
  const NEXT = "0x" + "cd".repeat(32);

  it("publishes the head of the log and remembers the last one", async function () {
    const { anchor, anchorer } = await deploy();
    expect(await anchor.latest()).to.deep.equal([0n, ethers.ZeroHash]);
    await expect(anchor.connect(anchorer).anchor(7, HEAD)).to.emit(anchor, "AuditAnchored").withArgs(7, HEAD, anchorer.address);
    await expect(anchor.connect(anchorer).anchor(9, NEXT)).to.emit(anchor, "AuditAnchored").withArgs(9, NEXT, anchorer.address);
    expect(await anchor.latest()).to.deep.equal([9n, NEXT]);
  });

  it("only moves forward", async function () {
    const { anchor, anchorer } = await deploy();
    await anchor.connect(anchorer).anchor(7, HEAD);
    await expect(anchor.connect(anchorer).anchor(7, NEXT)).to.be.revertedWithCustomError(anchor, "AuditAnchorSequenceNotIncreasing").withArgs(7, 7);
    await expect(anchor.connect(anchorer).anchor(3, NEXT)).to.be.revertedWithCustomError(anchor, "AuditAnchorSequenceNotIncreasing").withArgs(3, 7);
    await expect(anchor.connect(anchorer).anchor(0, NEXT)).to.be.revertedWithCustomError(anchor, "AuditAnchorSequenceNotIncreasing").withArgs(0, 7);
  });

  it("refuses a zero head, a zero admin and anyone without the anchor role", async function () {
    const { anchor, anchorer, outsider } = await deploy();
    await expect(anchor.connect(anchorer).anchor(1, ethers.ZeroHash)).to.be.revertedWithCustomError(anchor, "AuditAnchorZeroHead");
    await expect(anchor.connect(outsider).anchor(1, HEAD))
      .to.be.revertedWithCustomError(anchor, "AccessControlUnauthorizedAccount").withArgs(outsider.address, await anchor.ANCHOR_ROLE());
    await expect(ethers.deployContract("AuditAnchor", [ethers.ZeroAddress])).to.be.revertedWithCustomError(anchor, "AuditAnchorZeroAddress");
  });
});

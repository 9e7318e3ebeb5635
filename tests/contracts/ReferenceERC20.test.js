// The gas baseline must behave like the ERC-20 it stands for, or the comparison means nothing.
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { shouldBehaveLikeERC20 } = require("./behaviours/ERC20.behaviour");

async function deployReference() {
  const [holder, other, spender] = await ethers.getSigners();
  const token = await ethers.deployContract("ReferenceERC20");
  await token.mint(holder, 1000n);
  return { token, holder, other, spender };
}

describe("ReferenceERC20", function () {
  shouldBehaveLikeERC20(() => loadFixture(deployReference), 1000n);
});

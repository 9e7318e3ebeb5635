// Plain ERC-20 behaviour that DepositToken shares with a standard OpenZeppelin ERC-20: the same calls,
// the same events and the same IERC6093 errors. `setup` returns { token, holder, other, spender } where
// holder has `initial` tokens and every account may hold tokens.
const { expect } = require("chai");
const { ethers } = require("hardhat");

function shouldBehaveLikeERC20(setup, initial) {
  describe("ERC-20 behaviour", function () {
    it("transfers, updating both balances and emitting Transfer", async function () {
      const { token, holder, other } = await setup();
      const before = await token.balanceOf(other);
      await expect(token.connect(holder).transfer(other, 7n))
        .to.emit(token, "Transfer")
        .withArgs(holder.address, other.address, 7n);
      expect(await token.balanceOf(holder)).to.equal(initial - 7n);
      expect(await token.balanceOf(other)).to.equal(before + 7n);
    });

    it("keeps the total supply across a transfer", async function () {
      const { token, holder, other } = await setup();
      const supply = await token.totalSupply();
      await token.connect(holder).transfer(other, initial);
      expect(await token.totalSupply()).to.equal(supply);
    });

    it("transfers to oneself without creating money", async function () {
      const { token, holder } = await setup();
      await token.connect(holder).transfer(holder, initial);
      expect(await token.balanceOf(holder)).to.equal(initial);
    });

    it("refuses a transfer above the balance with ERC20InsufficientBalance", async function () {
      const { token, holder, other } = await setup();
      await expect(token.connect(holder).transfer(other, initial + 1n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
        .withArgs(holder.address, initial, initial + 1n);
    });

    it("refuses a transfer to the zero address with ERC20InvalidReceiver", async function () {
      const { token, holder } = await setup();
      await expect(token.connect(holder).transfer(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
    });

    it("approves and spends an allowance with transferFrom", async function () {
      const { token, holder, other, spender } = await setup();
      await expect(token.connect(holder).approve(spender, 10n))
        .to.emit(token, "Approval")
        .withArgs(holder.address, spender.address, 10n);
      await token.connect(spender).transferFrom(holder, other, 4n);
      expect(await token.allowance(holder, spender)).to.equal(6n);
    });

    it("does not spend an infinite allowance", async function () {
      const { token, holder, other, spender } = await setup();
      await token.connect(holder).approve(spender, ethers.MaxUint256);
      await token.connect(spender).transferFrom(holder, other, 4n);
      expect(await token.allowance(holder, spender)).to.equal(ethers.MaxUint256);
    });

    it("refuses transferFrom above the allowance with ERC20InsufficientAllowance", async function () {
      const { token, holder, other, spender } = await setup();
      await token.connect(holder).approve(spender, 3n);
      await expect(token.connect(spender).transferFrom(holder, other, 4n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(spender.address, 3n, 4n);
    });

    it("refuses to approve the zero address with ERC20InvalidSpender", async function () {
      const { token, holder } = await setup();
      await expect(token.connect(holder).approve(ethers.ZeroAddress, 1n))
        .to.be.revertedWithCustomError(token, "ERC20InvalidSpender")
        .withArgs(ethers.ZeroAddress);
    });
  });
}

module.exports = { shouldBehaveLikeERC20 };

// Shared fixtures for the contract tests: a bank with a registry, a USD token, every role on its own
// signer, KYC'd customers with balances, and EIP-712 signing helpers.
const { ethers } = require("hardhat");
const { time } = require("@nomicfoundation/hardhat-network-helpers");

const YEAR = 365 * 24 * 3600;
const US = 840;

async function deployBank() {
  const [admin, minter, burner, pauser, officer, alice, bob, carol, outsider, relayer] = await ethers.getSigners();
  const registry = await ethers.deployContract("ComplianceRegistry", [admin.address]);
  const token = await ethers.deployContract("DepositToken", [
    "Test Bank USD Deposit", "dUSD", "USD", 2, admin.address, await registry.getAddress(),
  ]);
  await registry.attachToken(token);
  await registry.grantRole(await registry.COMPLIANCE_ROLE(), officer);
  await token.configureMinter(minter, 1_000_000_00n);
  await token.grantRole(await token.BURNER_ROLE(), burner);
  await token.grantRole(await token.PAUSER_ROLE(), pauser);
  await token.grantRole(await token.COMPLIANCE_ROLE(), officer);
  const expiry = (await time.latest()) + YEAR;
  const verified = [minter, burner, alice, bob, carol, relayer].map((s) => s.address);
  await registry.connect(officer).setKycBatch(verified, verified.map(() => expiry), verified.map(() => US));
  await token.connect(minter).mint(alice, 1000_00n);
  await token.connect(minter).mint(bob, 500_00n);
  await token.connect(minter).mint(burner, 100_00n);
  return { registry, token, admin, minter, burner, pauser, officer, alice, bob, carol, outsider, relayer, expiry };
}

async function domainOf(token) {
  return {
    name: await token.name(),
    version: "1",
    chainId: (await ethers.provider.getNetwork()).chainId,
    verifyingContract: await token.getAddress(),
  };
}

const AUTH_FIELDS = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "validAfter", type: "uint256" },
  { name: "validBefore", type: "uint256" },
  { name: "nonce", type: "bytes32" },
];
const TYPES = {
  TransferWithAuthorization: AUTH_FIELDS,
  ReceiveWithAuthorization: AUTH_FIELDS,
  TransferWithReferenceAuthorization: [...AUTH_FIELDS, { name: "paymentReference", type: "bytes32" }],
  CancelAuthorization: [
    { name: "authorizer", type: "address" },
    { name: "nonce", type: "bytes32" },
  ],
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

async function sign(signer, token, primaryType, message) {
  const sig = await signer.signTypedData(await domainOf(token), { [primaryType]: TYPES[primaryType] }, message);
  return ethers.Signature.from(sig);
}

// An authorization signed by `signer` (paying from `from`, default the signer); `type` picks the EIP-712 type. Returns the message and v, r, s.
async function authorize(signer, token, { from, to, value, validAfter = 0n, validBefore, nonce, paymentReference, type }) {
  const message = {
    from: from ?? signer.address,
    to,
    value,
    validAfter,
    validBefore: validBefore ?? BigInt((await time.latest()) + 3600),
    nonce: nonce ?? ethers.hexlify(ethers.randomBytes(32)),
  };
  let primary = type ?? "TransferWithAuthorization";
  if (paymentReference !== undefined && paymentReference !== ethers.ZeroHash) {
    primary = "TransferWithReferenceAuthorization";
    message.paymentReference = paymentReference;
  }
  const { v, r, s } = await sign(signer, token, primary, message);
  return { ...message, paymentReference: paymentReference ?? ethers.ZeroHash, v, r, s };
}

// The Authorization struct, as the batch call takes it.
function asStruct(a) {
  return [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.paymentReference, a.v, a.r, a.s];
}

module.exports = { deployBank, domainOf, sign, authorize, asStruct, YEAR, US };

// Hardhat compiles and tests the contracts offline: the solc-build subtask hands it the npm `solc`
// package's soljson.js instead of downloading a compiler. Compiler version and settings come from
// contracts/compiler.json, which the Python compile path (wallet.chain.compiler) reads too, so both
// produce byte-identical bytecode.
require("@nomicfoundation/hardhat-chai-matchers");
require("@nomicfoundation/hardhat-ethers");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const solc = require("solc");
const compiler = require("./contracts/compiler.json");

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== compiler.version) {
    throw new Error(`only solc ${compiler.version} is installed (npm solc); asked for ${args.solcVersion}`);
  }
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: solc.version().replace(/\.Emscripten\.clang$/, ""),
  };
});

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: { version: compiler.version, settings: compiler.settings },
  paths: {
    sources: "./contracts",
    tests: "./tests/contracts",
    cache: "./.cache/hardhat",
    artifacts: "./artifacts",
  },
  networks: {
    hardhat: { hardfork: "cancun" },
  },
  mocha: { timeout: 120000 },
};

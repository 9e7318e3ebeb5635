// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title ReferenceERC20
 * @notice A plain OpenZeppelin ERC-20 with an open mint. It exists only as the gas baseline that
 * `tdw bench gas` measures DepositToken against; it is never deployed for money.
 */
contract ReferenceERC20 is ERC20 {
    constructor() ERC20("Reference", "REF") {}

    /// @notice Mints `value` to `to`; anyone may call.
    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    /// @notice Burns `value` of the caller's balance.
    function burn(uint256 value) external {
        _burn(msg.sender, value);
    }
}

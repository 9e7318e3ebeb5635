// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IReceiveWithAuthorization
 * @notice The EIP-3009 call the settlement contracts pull a payer's tokens with: only the payee may submit
 * it, so an authorization to a settlement contract can only be used by that contract.
 */
interface IReceiveWithAuthorization {
    /**
     * @notice Moves `value` from `from` to the caller `to` under `from`'s signed authorization.
     */
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;
}

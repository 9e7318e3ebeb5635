// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IHashedTimelock} from "./IHashedTimelock.sol";
import {IReceiveWithAuthorization} from "./IReceiveWithAuthorization.sol";

/**
 * @title HashedTimelock
 * @notice Hash time-locked token transfers (see `IHashedTimelock`). No owner; it holds only locked tokens.
 */
contract HashedTimelock is IHashedTimelock, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 public constant TERMS_TYPEHASH = keccak256(
        "Terms(address token,address sender,address receiver,uint256 value,bytes32 hashlock,uint256 timelock,bytes32 ref)"
    );

    mapping(bytes32 id => Terms) private _terms;
    mapping(bytes32 id => State) private _states;

    constructor() EIP712("tdw Hashed Timelock", "1") {}

    /// @inheritdoc IHashedTimelock
    function lock(Terms calldata t, uint8 v, bytes32 r, bytes32 s) external nonReentrant returns (bytes32 id) {
        if (
            t.token == address(0) || t.sender == address(0) || t.receiver == address(0) || t.value == 0
                || t.timelock <= block.timestamp
        ) revert HashedTimelockInvalidTerms();
        id = _id(t);
        if (_states[id] != State.None) revert HashedTimelockExists(id);
        _terms[id] = t;
        _states[id] = State.Locked;
        IReceiveWithAuthorization(t.token).receiveWithAuthorization(
            t.sender, address(this), t.value, 0, t.timelock, id, v, r, s
        );
        emit Locked(id, t.token, t.sender, t.receiver, t.value, t.hashlock, t.timelock, t.ref);
    }

    /// @inheritdoc IHashedTimelock
    function claim(bytes32 id, bytes32 secret) external nonReentrant {
        State state = _states[id];
        if (state != State.Locked) revert HashedTimelockNotLocked(id, state);
        Terms storage t = _terms[id];
        if (sha256(abi.encodePacked(secret)) != t.hashlock) revert HashedTimelockWrongSecret(id);
        if (block.timestamp >= t.timelock) revert HashedTimelockTime(t.timelock, block.timestamp);
        _states[id] = State.Claimed;
        IERC20(t.token).safeTransfer(t.receiver, t.value);
        emit Claimed(id, secret);
    }

    /// @inheritdoc IHashedTimelock
    function refund(bytes32 id) external nonReentrant {
        State state = _states[id];
        if (state != State.Locked) revert HashedTimelockNotLocked(id, state);
        Terms storage t = _terms[id];
        if (block.timestamp < t.timelock) revert HashedTimelockTime(t.timelock, block.timestamp);
        _states[id] = State.Refunded;
        IERC20(t.token).safeTransfer(t.sender, t.value);
        emit Refunded(id);
    }

    /// @inheritdoc IHashedTimelock
    function lockId(Terms calldata t) external view returns (bytes32) {
        return _id(t);
    }

    /// @inheritdoc IHashedTimelock
    function lockOf(bytes32 id) external view returns (Terms memory terms, State state) {
        return (_terms[id], _states[id]);
    }

    /// @notice This contract's EIP-712 domain separator (lock ids are hashes in it).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _id(Terms calldata t) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(TERMS_TYPEHASH, t.token, t.sender, t.receiver, t.value, t.hashlock, t.timelock, t.ref)
            )
        );
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IHashedTimelock
 * @notice Hash time-locked transfers of tokens, for payments between chains: the payer's tokens are locked
 * under `sha256(secret) == hashlock` until `timelock`. Anyone who shows the secret before `timelock`
 * sends them to the receiver; after it, anyone may send them back to the payer. A payment across two
 * chains locks on both with the same hashlock (the second with the shorter timelock), and the secret
 * revealed by the claim on one chain claims on the other.
 */
interface IHashedTimelock {
    /// @notice What a lock is for. The lock id is the EIP-712 hash of these terms in this contract's domain.
    struct Terms {
        address token;
        address sender;
        address receiver;
        uint256 value;
        bytes32 hashlock;
        uint256 timelock;
        bytes32 ref;
    }

    /// @notice What became of a lock.
    enum State {
        None,
        Locked,
        Claimed,
        Refunded
    }

    /// @notice `value` of `token` from `sender` to `receiver` is locked under `hashlock` until `timelock`.
    event Locked(
        bytes32 indexed id,
        address indexed token,
        address indexed sender,
        address receiver,
        uint256 value,
        bytes32 hashlock,
        uint256 timelock,
        bytes32 ref
    );
    /// @notice Lock `id` went to its receiver; `secret` is now public.
    event Claimed(bytes32 indexed id, bytes32 secret);
    /// @notice Lock `id` went back to its sender after its timelock.
    event Refunded(bytes32 indexed id);

    /// @notice The terms are not lockable: a zero address or value, or a timelock not in the future.
    error HashedTimelockInvalidTerms();
    /// @notice Lock `id` is `state`, not locked.
    error HashedTimelockNotLocked(bytes32 id, State state);
    /// @notice Lock `id` already exists.
    error HashedTimelockExists(bytes32 id);
    /// @notice The secret does not hash to the lock's hashlock.
    error HashedTimelockWrongSecret(bytes32 id);
    /// @notice The timelock `timelock` has passed (claim) or not yet (refund); it is `timestamp`.
    error HashedTimelockTime(uint256 timelock, uint256 timestamp);

    /**
     * @notice Locks `t.value` of `t.token` from `t.sender`, under its EIP-3009 `ReceiveWithAuthorization`
     * to this contract valid before `t.timelock` with nonce `lockId(t)`. Anyone may submit it.
     * @return id The lock id.
     */
    function lock(Terms calldata t, uint8 v, bytes32 r, bytes32 s) external returns (bytes32 id);

    /**
     * @notice Sends lock `id` to its receiver; `secret` must hash (SHA-256) to its hashlock and the
     * timelock must not have passed. Anyone may submit it.
     */
    function claim(bytes32 id, bytes32 secret) external;

    /// @notice Sends lock `id` back to its sender once its timelock has passed. Anyone may submit it.
    function refund(bytes32 id) external;

    /// @notice The id of a lock of `t`.
    function lockId(Terms calldata t) external view returns (bytes32);

    /// @notice Lock `id`'s terms and state.
    function lockOf(bytes32 id) external view returns (Terms memory terms, State state);
}

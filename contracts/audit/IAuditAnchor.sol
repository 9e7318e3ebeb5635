// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IAuditAnchor
 * @notice Publishes the head of the bank's off-chain audit log from time to time, so that a database
 * administrator who rewrites the log cannot make it agree with what the chain recorded.
 * @dev Each record of the log carries the SHA-256 of the one before it; anchoring the hash of record
 * `seq` fixes every record up to it.
 */
interface IAuditAnchor {
    /// @notice The audit log's record `seq` had the hash `head` when `anchoredBy` anchored it.
    event AuditAnchored(uint64 indexed seq, bytes32 head, address indexed anchoredBy);

    /// @notice `seq` is not after the last anchored record `last`: anchors only move forward.
    error AuditAnchorSequenceNotIncreasing(uint64 seq, uint64 last);
    /// @notice A zero hash was given as the head.
    error AuditAnchorZeroHead();
    /// @notice The zero address was given as the admin.
    error AuditAnchorZeroAddress();

    /**
     * @notice Anchors the audit log's record `seq` with its hash `head`.
     * @param seq The record's sequence number, greater than the last anchored one.
     * @param head The record's SHA-256.
     */
    function anchor(uint64 seq, bytes32 head) external;

    /**
     * @notice The last anchor.
     * @return seq The last anchored record's sequence number (0 before the first anchor).
     * @return head Its hash.
     */
    function latest() external view returns (uint64 seq, bytes32 head);
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAuditAnchor} from "./IAuditAnchor.sol";

/**
 * @title AuditAnchor
 * @notice Where the bank publishes the head hash of its audit log. Anyone can read the anchors (as
 * `AuditAnchored` events) and check an exported log against them.
 */
contract AuditAnchor is IAuditAnchor, AccessControl {
    /// @notice May publish anchors (the bank's compliance key).
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    uint64 private _lastSeq;
    bytes32 private _lastHead;

    /// @param admin The first admin; it may grant the anchor role.
    constructor(address admin) {
        if (admin == address(0)) revert AuditAnchorZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IAuditAnchor
    function anchor(uint64 seq, bytes32 head) external onlyRole(ANCHOR_ROLE) {
        if (head == bytes32(0)) revert AuditAnchorZeroHead();
        if (seq <= _lastSeq) revert AuditAnchorSequenceNotIncreasing(seq, _lastSeq);
        _lastSeq = seq;
        _lastHead = head;
        emit AuditAnchored(seq, head, msg.sender);
    }

    /// @inheritdoc IAuditAnchor
    function latest() external view returns (uint64 seq, bytes32 head) {
        return (_lastSeq, _lastHead);
    }
}

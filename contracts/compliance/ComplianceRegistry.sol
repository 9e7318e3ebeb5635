// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {IComplianceRegistry} from "./IComplianceRegistry.sol";
import {IDepositToken} from "../token/IDepositToken.sol";

/**
 * @title ComplianceRegistry
 * @notice The bank's record of who may hold its deposit tokens: KYC verification with expiry and
 * jurisdiction, and a blocklist. Maintained by the compliance role.
 * @dev Every write is pushed into each attached token in the same transaction, so a token's cached status
 * never lags the registry; a token that refuses the push (say, it follows another registry) makes the write
 * revert until the admin detaches it.
 */
contract ComplianceRegistry is IComplianceRegistry, AccessControl {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice May write KYC records and the blocklist.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");

    mapping(address account => Status) private _statuses;
    EnumerableSet.AddressSet private _tokens;

    /// @param admin The first admin; it may grant the compliance role and attach tokens.
    constructor(address admin) {
        if (admin == address(0)) revert ComplianceRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IComplianceRegistry
    function setKyc(address account, uint40 expiry, uint16 jurisdiction) external onlyRole(COMPLIANCE_ROLE) {
        _setKyc(account, expiry, jurisdiction);
    }

    /// @inheritdoc IComplianceRegistry
    function setKycBatch(address[] calldata accounts, uint40[] calldata expiries, uint16[] calldata jurisdictions)
        external
        onlyRole(COMPLIANCE_ROLE)
    {
        if (accounts.length != expiries.length) {
            revert ComplianceRegistryLengthMismatch(accounts.length, expiries.length);
        }
        if (accounts.length != jurisdictions.length) {
            revert ComplianceRegistryLengthMismatch(accounts.length, jurisdictions.length);
        }
        for (uint256 i = 0; i < accounts.length; ++i) {
            _setKyc(accounts[i], expiries[i], jurisdictions[i]);
        }
    }

    /// @inheritdoc IComplianceRegistry
    function revokeKyc(address account) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert ComplianceRegistryZeroAddress();
        Status storage status = _statuses[account];
        status.verified = false;
        status.expiry = 0;
        emit KycUpdated(account, false, 0, status.jurisdiction);
        _push(account, status);
    }

    /// @inheritdoc IComplianceRegistry
    function setBlocked(address account, bool blocked) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert ComplianceRegistryZeroAddress();
        Status storage status = _statuses[account];
        status.blocked = blocked;
        emit BlockedUpdated(account, blocked);
        _push(account, status);
    }

    /// @inheritdoc IComplianceRegistry
    function attachToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert ComplianceRegistryZeroAddress();
        if (!_tokens.add(token)) revert ComplianceRegistryTokenAlreadyAttached(token);
        emit TokenAttached(token);
    }

    /// @inheritdoc IComplianceRegistry
    function detachToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_tokens.remove(token)) revert ComplianceRegistryTokenNotAttached(token);
        emit TokenDetached(token);
    }

    /// @inheritdoc IComplianceRegistry
    function statusOf(address account) external view returns (Status memory) {
        return _statuses[account];
    }

    /// @inheritdoc IComplianceRegistry
    function isAllowed(address account) external view returns (bool) {
        Status memory status = _statuses[account];
        return status.verified && !status.blocked && status.expiry > block.timestamp;
    }

    /// @inheritdoc IComplianceRegistry
    function tokens() external view returns (address[] memory) {
        return _tokens.values();
    }

    function _setKyc(address account, uint40 expiry, uint16 jurisdiction) private {
        if (account == address(0)) revert ComplianceRegistryZeroAddress();
        if (expiry <= block.timestamp) revert ComplianceRegistryExpiryInPast(expiry, block.timestamp);
        Status storage status = _statuses[account];
        status.verified = true;
        status.expiry = expiry;
        status.jurisdiction = jurisdiction;
        emit KycUpdated(account, true, expiry, jurisdiction);
        _push(account, status);
    }

    function _push(address account, Status memory status) private {
        uint256 count = _tokens.length();
        for (uint256 i = 0; i < count; ++i) {
            IDepositToken(_tokens.at(i)).applyCompliance(account, status);
        }
    }
}

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
 * never lags the registry. Only a token that names this registry can be attached, and attaching tells it
 * (a new cache epoch: what it cached before no longer counts). A token that refuses a push (its admin
 * pointed it at another registry, say) is detached on the spot and the failure logged: one token cannot hold
 * up a sanction for the others, and a detached token counts nobody as verified until attached again.
 */
contract ComplianceRegistry is IComplianceRegistry, AccessControl {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice May write KYC records and the blocklist.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @notice The gas each token's push may use (a DepositToken's `applyCompliance` needs about 30,000).
    uint256 public constant PUSH_GAS = 100_000;

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
        if (!_namesThisRegistry(token)) revert ComplianceRegistryTokenNotLinked(token);
        if (!_tokens.add(token)) revert ComplianceRegistryTokenAlreadyAttached(token);
        emit TokenAttached(token);
        IDepositToken(token).setRegistryLink(true);
    }

    /// @inheritdoc IComplianceRegistry
    function detachToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_tokens.remove(token)) revert ComplianceRegistryTokenNotAttached(token);
        emit TokenDetached(token);
        _unlink(token);
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

    /// @dev Backwards, so that detaching a failing token (the last one moves into its place) skips nothing.
    function _push(address account, Status memory status) private {
        for (uint256 i = _tokens.length(); i > 0; --i) {
            address token = _tokens.at(i - 1);
            // Too little gas must revert the whole write, never pass for a token's failure: a gas estimate
            // would otherwise find the limit at which every token is detached.
            if (gasleft() < PUSH_GAS + PUSH_GAS / 32) revert ComplianceRegistryOutOfGas(gasleft(), PUSH_GAS);
            try IDepositToken(token).applyCompliance{gas: PUSH_GAS}(account, status) {}
            catch (bytes memory reason) {
                if (_tokens.remove(token)) {
                    emit TokenPushFailed(token, account, reason);
                    emit TokenDetached(token);
                    _unlink(token);
                }
            }
        }
    }

    /// @dev Tells a detached token so, if it listens; one that does not is detached all the same.
    function _unlink(address token) private {
        if (gasleft() < PUSH_GAS + PUSH_GAS / 32) revert ComplianceRegistryOutOfGas(gasleft(), PUSH_GAS);
        try IDepositToken(token).setRegistryLink{gas: PUSH_GAS}(false) {} catch {}
    }

    function _namesThisRegistry(address token) private view returns (bool) {
        if (token.code.length == 0) return false;
        try IDepositToken(token).registry() returns (IComplianceRegistry named) {
            return address(named) == address(this);
        } catch {
            return false;
        }
    }
}

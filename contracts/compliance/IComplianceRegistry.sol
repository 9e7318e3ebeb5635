// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IComplianceRegistry
 * @notice KYC status, jurisdiction, expiry and blocklist per address, shared by every deposit token of a bank.
 * @dev The registry pushes each change into the tokens attached to it, so a token never calls out on a transfer.
 */
interface IComplianceRegistry {
    /// @notice The compliance status of one address.
    struct Status {
        bool verified;
        bool blocked;
        uint40 expiry;
        uint16 jurisdiction;
    }

    /// @notice An address's KYC record was written.
    event KycUpdated(address indexed account, bool verified, uint40 expiry, uint16 jurisdiction);
    /// @notice An address was put on or taken off the blocklist.
    event BlockedUpdated(address indexed account, bool blocked);
    /// @notice A token was attached: it now receives every status change.
    event TokenAttached(address indexed token);
    /// @notice A token was detached: it no longer receives status changes.
    event TokenDetached(address indexed token);
    /// @notice Pushing `account`'s status into `token` failed with `reason`: the token was detached, so
    /// that one token cannot hold up a sanction for the others, and counts nothing as verified until
    /// attached again.
    event TokenPushFailed(address indexed token, address indexed account, bytes reason);

    /// @notice The zero address was given where an account or token is required.
    error ComplianceRegistryZeroAddress();
    /// @notice A KYC expiry at or before the current block time was given.
    error ComplianceRegistryExpiryInPast(uint40 expiry, uint256 timestamp);
    /// @notice The token is attached already.
    error ComplianceRegistryTokenAlreadyAttached(address token);
    /// @notice The token is not attached.
    error ComplianceRegistryTokenNotAttached(address token);
    /// @notice `token` does not name this registry as its own: it cannot be attached.
    error ComplianceRegistryTokenNotLinked(address token);
    /// @notice `gasLeft` is too little to give each attached token the `pushGas` its update may need.
    error ComplianceRegistryOutOfGas(uint256 gasLeft, uint256 pushGas);
    /// @notice Arrays given together differ in length.
    error ComplianceRegistryLengthMismatch(uint256 accounts, uint256 values);

    /**
     * @notice Marks `account` as KYC-verified until `expiry` in `jurisdiction` (ISO 3166-1 numeric).
     * @param account The address whose record is written.
     * @param expiry Unix time after which the verification no longer counts.
     * @param jurisdiction ISO 3166-1 numeric country code of the customer.
     */
    function setKyc(address account, uint40 expiry, uint16 jurisdiction) external;

    /**
     * @notice Writes many KYC records at once (onboarding a batch of customers).
     * @param accounts The addresses.
     * @param expiries One expiry per address.
     * @param jurisdictions One jurisdiction per address.
     */
    function setKycBatch(address[] calldata accounts, uint40[] calldata expiries, uint16[] calldata jurisdictions)
        external;

    /**
     * @notice Withdraws the KYC verification of `account`; its record's jurisdiction is kept.
     * @param account The address.
     */
    function revokeKyc(address account) external;

    /**
     * @notice Puts `account` on the blocklist (`blocked` true) or takes it off.
     * @param account The address.
     * @param blocked The new blocklist state.
     */
    function setBlocked(address account, bool blocked) external;

    /**
     * @notice Attaches `token`; from now on it receives every status change.
     * @param token The token contract.
     */
    function attachToken(address token) external;

    /**
     * @notice Detaches `token`.
     * @param token The token contract.
     */
    function detachToken(address token) external;

    /**
     * @notice The compliance status of `account`.
     * @param account The address.
     * @return The status record.
     */
    function statusOf(address account) external view returns (Status memory);

    /**
     * @notice Whether `account` may hold and move tokens now: verified, not expired, not blocked.
     * @param account The address.
     * @return True when allowed.
     */
    function isAllowed(address account) external view returns (bool);

    /**
     * @notice The tokens attached to this registry.
     * @return The token addresses.
     */
    function tokens() external view returns (address[] memory);
}

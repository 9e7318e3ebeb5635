// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IComplianceRegistry} from "../compliance/IComplianceRegistry.sol";

/**
 * @title IDepositToken
 * @notice A bank's tokenized deposit in one currency: ERC-20 with compliance checks on every movement,
 * minter allowances, freezes, forced transfers, recovery, EIP-2612 permit and EIP-3009 authorizations.
 */
interface IDepositToken is IERC20Metadata, IERC20Permit {
    /// @notice One EIP-3009 transfer authorization as carried by the batch call.
    /// @dev `paymentReference` zero means the plain EIP-3009 `TransferWithAuthorization` type was signed;
    /// otherwise `TransferWithReferenceAuthorization`, which binds the reference into the signature.
    struct Authorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes32 paymentReference;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice `minter` may now mint up to `allowance` more tokens.
    event MinterConfigured(address indexed minter, uint256 allowance);
    /// @notice `minter` lost its role and allowance.
    event MinterRemoved(address indexed minter);
    /// @notice `minter` minted `value` to `to`.
    event Minted(address indexed minter, address indexed to, uint256 value);
    /// @notice `burner` burned `value` of its own balance.
    event Burned(address indexed burner, uint256 value);
    /// @notice A transfer of `value` from `from` to `to` carried `paymentReference`.
    event TransferReferenced(address indexed from, address indexed to, uint256 value, bytes32 indexed paymentReference);
    /// @notice `account` was frozen: it can no longer send.
    event AccountFrozen(address indexed account);
    /// @notice `account` was unfrozen.
    event AccountUnfrozen(address indexed account);
    /// @notice The frozen part of `account`'s balance changed from `previous` to `current`.
    event FrozenAmountChanged(address indexed account, uint256 previous, uint256 current);
    /// @notice Compliance moved `value` from `from` to `to` under a legal order.
    event TransferForced(
        address indexed from, address indexed to, uint256 value, uint16 reasonCode, bytes32 legalOrderHash
    );
    /// @notice The balance of a lost address was moved to its replacement.
    event AccountRecovered(
        address indexed lost, address indexed replacement, uint256 value, bytes32 legalOrderHash
    );
    /// @notice The token's cached compliance status of `account` changed.
    event ComplianceCached(address indexed account, bool verified, bool blocked, uint40 expiry, uint16 jurisdiction);
    /// @notice The registry the token follows changed; the token is unlinked until that registry attaches it.
    event RegistryChanged(address indexed previous, address indexed current);
    /// @notice The registry attached (`linked`) or detached the token. Attaching starts a new cache
    /// `epoch`: every status cached before it is stale until the registry pushes or `syncCompliance` pulls it.
    event RegistryLinkChanged(address indexed registry, bool linked, uint256 epoch);
    /// @notice The token was paused by `account`.
    event Paused(address account);
    /// @notice The token was unpaused by `account`.
    event Unpaused(address account);
    /// @notice The EIP-3009 authorization `nonce` of `authorizer` was used.
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    /// @notice The EIP-3009 authorization `nonce` of `authorizer` was canceled.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
    /// @notice An authorization in a batch failed with `reason` (the revert data); its nonce stays unused.
    event AuthorizationFailed(address indexed authorizer, bytes32 indexed nonce, bytes reason);

    /// @notice `account` has no KYC verification.
    error DepositTokenAccountNotVerified(address account);
    /// @notice `account` is on the blocklist.
    error DepositTokenAccountBlocked(address account);
    /// @notice The KYC verification of `account` expired at `expiry`.
    error DepositTokenKycExpired(address account, uint40 expiry);
    /// @notice `account` is frozen.
    error DepositTokenAccountFrozen(address account);
    /// @notice `account` has `available` unfrozen tokens but `needed` were asked for.
    error DepositTokenInsufficientUnfrozenBalance(address account, uint256 available, uint256 needed);
    /// @notice `minter` may mint `allowance` more but `needed` were asked for.
    error DepositTokenMinterAllowanceExceeded(address minter, uint256 allowance, uint256 needed);
    /// @notice Minting `value` on top of `totalSupply` would pass what balances can hold (2^96 - 1).
    error DepositTokenSupplyOverflow(uint256 totalSupply, uint256 value);
    /// @notice An address cannot be recovered to itself.
    error DepositTokenRecoveryToSelf(address account);
    /// @notice A freeze of `amount` is larger than balances can hold.
    error DepositTokenFrozenAmountOverflow(uint256 amount);
    /// @notice Only the registry may push compliance status; `caller` is not it.
    error DepositTokenCallerNotRegistry(address caller);
    /// @notice Only the token itself may call this; `caller` is not it.
    error DepositTokenCallerNotSelf(address caller);
    /// @notice `receiveWithAuthorization` must be called by the payee `payee`, not `caller`.
    error DepositTokenCallerNotPayee(address caller, address payee);
    /// @notice The authorization is valid only after `validAfter`; it is `timestamp`.
    error DepositTokenAuthorizationNotYetValid(uint256 validAfter, uint256 timestamp);
    /// @notice The authorization expired at `validBefore`; it is `timestamp`.
    error DepositTokenAuthorizationExpired(uint256 validBefore, uint256 timestamp);
    /// @notice The authorization `nonce` of `authorizer` was used or canceled already.
    error DepositTokenAuthorizationAlreadyUsed(address authorizer, bytes32 nonce);
    /// @notice The signature was made by `signer`, not by `expected`.
    error DepositTokenInvalidSignature(address signer, address expected);
    /// @notice The permit expired at `deadline`.
    error DepositTokenPermitExpired(uint256 deadline);
    /// @notice The zero address was given where an account is required.
    error DepositTokenZeroAddress();
    /// @notice The token's cached status of `account` may be out of date (the token is not attached to its
    /// registry, or it was re-attached since): it counts as unverified until synced.
    error DepositTokenComplianceStale(address account);
    /// @notice The token was attached to a registry as often as its cache epochs allow (31 times).
    error DepositTokenRelinkLimit();
    /// @notice A forced transfer from `account` to itself moves nothing.
    error DepositTokenTransferToSelf(address account);
    /// @notice The token is paused.
    error EnforcedPause();
    /// @notice The token is not paused.
    error ExpectedPause();

    /**
     * @notice The ISO 4217 code of the currency this token is a deposit in.
     * @return The three-letter code, e.g. "USD".
     */
    function currency() external view returns (string memory);

    /**
     * @notice The compliance registry this token follows.
     * @return The registry.
     */
    function registry() external view returns (IComplianceRegistry);

    /**
     * @notice Points the token at another registry (admin). The token is unlinked, so every cached status is
     * stale, until the new registry attaches it and the statuses are pushed or synced again.
     * @param newRegistry The registry.
     */
    function setRegistry(IComplianceRegistry newRegistry) external;

    /**
     * @notice Called by the registry as it attaches (`true`) or detaches (`false`) the token. Attaching
     * starts a new cache epoch, so nothing cached before counts until pushed or synced again.
     */
    function setRegistryLink(bool linked) external;

    /**
     * @notice Whether the token is attached to its registry, and its cache epoch.
     * @return linked True while the registry pushes every status change into the token.
     * @return epoch The number of times the token was attached.
     */
    function registryLink() external view returns (bool linked, uint256 epoch);

    /// @notice Whether the token is paused.
    function paused() external view returns (bool);

    /**
     * @notice Grants `minter` the minter role with a cap of `allowance` further tokens (admin).
     * @param minter The minter.
     * @param allowance How much it may mint from now on; replaces any earlier allowance.
     */
    function configureMinter(address minter, uint256 allowance) external;

    /**
     * @notice Takes the minter role and allowance from `minter` (admin).
     * @param minter The minter.
     */
    function removeMinter(address minter) external;

    /**
     * @notice How much more `minter` may mint.
     * @param minter The minter.
     * @return The remaining allowance.
     */
    function minterAllowance(address minter) external view returns (uint256);

    /**
     * @notice Mints `value` to `to` against the caller's minter allowance (minter).
     * @param to The receiver; must be allowed.
     * @param value The amount in minor units.
     */
    function mint(address to, uint256 value) external;

    /**
     * @notice Burns `value` of the caller's own unfrozen balance (burner), on redemption to fiat.
     * @param value The amount in minor units.
     */
    function burn(uint256 value) external;

    /**
     * @notice Stops every ordinary movement (pauser).
     */
    function pause() external;

    /**
     * @notice Resumes ordinary movements (pauser).
     */
    function unpause() external;

    /**
     * @notice Transfers `value` to `to` and records `paymentReference` for reconciliation.
     * @param to The receiver.
     * @param value The amount in minor units.
     * @param paymentReference An invoice, bill or payment request id.
     * @return True on success.
     */
    function transferWithReference(address to, uint256 value, bytes32 paymentReference) external returns (bool);

    /**
     * @notice Freezes `account` as a whole: it can no longer send (compliance).
     * @param account The address.
     */
    function freeze(address account) external;

    /**
     * @notice Unfreezes `account` (compliance).
     * @param account The address.
     */
    function unfreeze(address account) external;

    /**
     * @notice Sets the frozen part of `account`'s balance to `amount` (compliance). It may exceed the
     * balance, in which case incoming funds stay frozen up to it.
     * @param account The address.
     * @param amount The new frozen amount, absolute.
     */
    function setFrozenAmount(address account, uint256 amount) external;

    /**
     * @notice Moves `value` from `from` to `to` under a legal order, ignoring pause and the sender's
     * status and freezes (compliance). The receiver must be allowed.
     * @param from The address debited.
     * @param to The address credited.
     * @param value The amount in minor units.
     * @param reasonCode The bank's reason code for the order.
     * @param legalOrderHash The hash of the legal order document.
     */
    function forcedTransfer(address from, address to, uint256 value, uint16 reasonCode, bytes32 legalOrderHash)
        external;

    /**
     * @notice Moves the whole balance and frozen amount of a lost address to its replacement and freezes the
     * lost address (compliance).
     * @param lost The address whose key was lost.
     * @param replacement The customer's new address; must be allowed.
     * @param legalOrderHash The hash of the recovery request on file.
     */
    function recoverAccount(address lost, address replacement, bytes32 legalOrderHash) external;

    /**
     * @notice Writes the cached compliance status of `account` (registry only).
     * @param account The address.
     * @param status Its status in the registry.
     */
    function applyCompliance(address account, IComplianceRegistry.Status calldata status) external;

    /**
     * @notice Copies the registry's status of each of `accounts` into this token's cache, in the current
     * epoch; anyone may call. It counts only while the token is attached to its registry.
     * @param accounts The addresses.
     */
    function syncCompliance(address[] calldata accounts) external;

    /**
     * @notice Whether `account` may send and receive now (verified, not expired, not blocked).
     * @param account The address.
     * @return True when allowed.
     */
    function isAllowed(address account) external view returns (bool);

    /**
     * @notice Whether `account` is frozen as a whole.
     * @param account The address.
     * @return True when frozen.
     */
    function isFrozen(address account) external view returns (bool);

    /**
     * @notice The frozen part of `account`'s balance.
     * @param account The address.
     * @return The frozen amount.
     */
    function frozenBalanceOf(address account) external view returns (uint256);

    /**
     * @notice The compliance status of `account` as cached by this token.
     * @param account The address.
     * @return The cached status.
     */
    function cachedStatusOf(address account) external view returns (IComplianceRegistry.Status memory);

    /**
     * @notice Executes an EIP-3009 transfer authorization signed by `from`; anyone may submit it.
     * @param from The payer, who signed.
     * @param to The payee.
     * @param value The amount in minor units.
     * @param validAfter Unix time after which it is valid.
     * @param validBefore Unix time before which it is valid.
     * @param nonce A unique 32-byte nonce chosen by the payer.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
     */
    function transferWithAuthorization(
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

    /**
     * @notice Executes an EIP-3009 receive authorization; only the payee `to` may submit it.
     * @param from The payer, who signed.
     * @param to The payee, who must be the caller.
     * @param value The amount in minor units.
     * @param validAfter Unix time after which it is valid.
     * @param validBefore Unix time before which it is valid.
     * @param nonce A unique 32-byte nonce chosen by the payer.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
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

    /**
     * @notice Executes a transfer authorization that also binds a payment reference into the signature.
     * @param auth The authorization, signed as `TransferWithReferenceAuthorization`.
     */
    function transferWithReferenceAuthorization(Authorization calldata auth) external;

    /**
     * @notice Cancels an unused authorization `nonce` of `authorizer`, who signed the cancellation.
     * @param authorizer The payer whose authorization is canceled.
     * @param nonce The nonce.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
     */
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;

    /**
     * @notice Executes many authorizations in one transaction. Each stands alone: one that fails emits
     * `AuthorizationFailed` with its revert data, leaves its nonce unused, and the others still execute.
     * @param auths The authorizations.
     * @return succeeded A bit per authorization, bit i set when auths[i] executed (first 256 only).
     * @return executed How many executed.
     */
    function batchTransferWithAuthorization(Authorization[] calldata auths)
        external
        returns (uint256 succeeded, uint256 executed);

    /**
     * @notice Executes one authorization for the batch call; callable only by the token itself.
     * @param auth The authorization.
     */
    function executeAuthorization(Authorization calldata auth) external;

    /**
     * @notice Whether the authorization `nonce` of `authorizer` was used or canceled.
     * @param authorizer The payer.
     * @param nonce The nonce.
     * @return True when used or canceled.
     */
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IComplianceRegistry} from "../compliance/IComplianceRegistry.sol";
import {IDepositToken} from "./IDepositToken.sol";

/**
 * @title DepositToken
 * @notice A bank's tokenized deposit in one currency. One token unit is one minor unit of the currency.
 * @dev Every account lives in one storage word, so the compliance checks of a transfer read nothing the
 * balance update does not read anyway (as FiatToken v2.2 packs its blacklist bit next to the balance):
 *
 *   bits   0..95   balance            (uint96: the total supply is capped at 2^96 - 1)
 *   bits  96..191  frozen amount      (uint96)
 *   bits 192..231  KYC expiry         (uint40, unix time; cached from the registry)
 *   bits 232..247  jurisdiction       (uint16, ISO 3166-1 numeric; cached from the registry)
 *   bits 248..255  flags              (VERIFIED and BLOCKED cached from the registry, FROZEN the token's own,
 *                                      and in bits 3..7 the cache epoch the status was written in)
 *
 * The registry pushes status changes into every attached token (`applyCompliance`); `syncCompliance` pulls
 * them for accounts verified before the token was attached. A cached status counts only while the token
 * is attached to its registry and only if it was written in the current epoch, which every attachment
 * starts anew: after a detachment, a re-attachment or a change of registry nothing cached before counts
 * as verified until pushed or synced again (fail closed). The pause flag, the link and the epoch share
 * one storage word (`_control`), so a transfer reads it once, as it read the pause flag alone before.
 */
contract DepositToken is IDepositToken, IERC20Errors, AccessControl, EIP712, Nonces {
    /// @notice May mint, within its allowance.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice May burn its own balance.
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");
    /// @notice May pause and unpause.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice May freeze, force transfers and recover accounts.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");

    bytes32 public constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 public constant TRANSFER_WITH_REFERENCE_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithReferenceAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce,bytes32 paymentReference)"
    );
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    uint256 private constant _AMOUNT_MASK = (1 << 96) - 1;
    uint256 private constant _FROZEN_SHIFT = 96;
    uint256 private constant _EXPIRY_SHIFT = 192;
    uint256 private constant _JURISDICTION_SHIFT = 232;
    uint256 private constant _FLAGS_SHIFT = 248;
    uint256 private constant _VERIFIED = 1;
    uint256 private constant _BLOCKED = 2;
    uint256 private constant _FROZEN = 4;
    /// @dev Within the flags: the cache epoch a status was written in (5 bits).
    uint256 private constant _TAG_SHIFT = 3;
    uint256 private constant _MAX_EPOCH = 31;
    /// @dev A tag no account word can hold: nothing is current while the token is unlinked.
    uint256 private constant _NO_TAG = 32;
    /// @dev `_control`: bit 0 paused, bit 1 linked to the registry, bits 8..15 the cache epoch.
    uint256 private constant _PAUSED = 1;
    uint256 private constant _LINKED = 2;
    uint256 private constant _EPOCH_SHIFT = 8;
    /// @dev Balance and frozen amount: what a compliance status write keeps.
    uint256 private constant _AMOUNTS = _AMOUNT_MASK | (_AMOUNT_MASK << _FROZEN_SHIFT);

    mapping(address account => uint256) private _accounts;
    mapping(address account => mapping(address spender => uint256)) private _allowances;
    mapping(address minter => uint256) private _minterAllowances;
    mapping(address authorizer => mapping(bytes32 nonce => bool)) private _authorizationStates;
    uint256 private _totalSupply;
    IComplianceRegistry private _registry;
    uint256 private _control;

    string private _tokenName;
    string private _tokenSymbol;
    string private _currency;
    uint8 private immutable _decimals;

    modifier onlyRegistry() {
        if (msg.sender != address(_registry)) revert DepositTokenCallerNotRegistry(msg.sender);
        _;
    }

    /**
     * @param name_ The token name, e.g. "Example Bank USD Deposit".
     * @param symbol_ The token symbol.
     * @param currency_ The ISO 4217 code, e.g. "USD".
     * @param decimals_ The ISO 4217 exponent of the currency (USD 2, JPY 0).
     * @param admin The first admin.
     * @param registry_ The compliance registry.
     */
    constructor(
        string memory name_,
        string memory symbol_,
        string memory currency_,
        uint8 decimals_,
        address admin,
        IComplianceRegistry registry_
    ) EIP712(name_, "1") {
        if (admin == address(0) || address(registry_) == address(0)) revert DepositTokenZeroAddress();
        _tokenName = name_;
        _tokenSymbol = symbol_;
        _currency = currency_;
        _decimals = decimals_;
        _registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        emit RegistryChanged(address(0), address(registry_));
    }

    // ----------------------------------------------------------------- ERC-20 ---

    /// @notice The token name.
    function name() external view returns (string memory) {
        return _tokenName;
    }

    /// @notice The token symbol.
    function symbol() external view returns (string memory) {
        return _tokenSymbol;
    }

    /// @notice The ISO 4217 exponent of the currency.
    function decimals() external view returns (uint8) {
        return _decimals;
    }

    /// @inheritdoc IDepositToken
    function currency() external view returns (string memory) {
        return _currency;
    }

    /// @notice The tokens in existence.
    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    /// @notice The balance of `account`, frozen part included.
    function balanceOf(address account) external view returns (uint256) {
        return _accounts[account] & _AMOUNT_MASK;
    }

    /// @notice How much `spender` may still move from `owner`.
    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    /// @notice Moves `value` from the caller to `to`.
    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    /// @notice Moves `value` from `from` to `to` against the caller's allowance. The caller must be allowed
    /// too (as FiatToken checks the spender against its blacklist): a blocked or unverified spender cannot
    /// move a holder's funds with an allowance or a permit given before.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        if (msg.sender != from) _requireAllowed(msg.sender, _accounts[msg.sender], _cacheTag(_control));
        _spendAllowance(from, msg.sender, value);
        _transfer(from, to, value);
        return true;
    }

    /// @notice Lets `spender` move up to `value` of the caller's tokens.
    function approve(address spender, uint256 value) external returns (bool) {
        _approve(msg.sender, spender, value);
        return true;
    }

    /// @inheritdoc IDepositToken
    function transferWithReference(address to, uint256 value, bytes32 paymentReference) external returns (bool) {
        _transfer(msg.sender, to, value);
        emit TransferReferenced(msg.sender, to, value, paymentReference);
        return true;
    }

    // --------------------------------------------------------------- EIP-2612 ---

    /// @notice Sets `spender`'s allowance over `owner`'s tokens by `owner`'s signature.
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        if (block.timestamp > deadline) revert DepositTokenPermitExpired(deadline);
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, _useNonce(owner), deadline)));
        _requireSignature(owner, digest, v, r, s);
        _approve(owner, spender, value);
    }

    /// @notice The next permit nonce of `owner`.
    function nonces(address owner) public view override(IERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @notice The EIP-712 domain separator of this token.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // --------------------------------------------------------------- EIP-3009 ---

    /// @inheritdoc IDepositToken
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
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce));
        _useAuthorization(from, validAfter, validBefore, nonce, structHash, v, r, s);
        _transfer(from, to, value);
    }

    /// @inheritdoc IDepositToken
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
    ) external {
        if (msg.sender != to) revert DepositTokenCallerNotPayee(msg.sender, to);
        bytes32 structHash =
            keccak256(abi.encode(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce));
        _useAuthorization(from, validAfter, validBefore, nonce, structHash, v, r, s);
        _transfer(from, to, value);
    }

    /// @inheritdoc IDepositToken
    function transferWithReferenceAuthorization(Authorization calldata auth) external {
        _executeAuthorization(auth);
    }

    /// @inheritdoc IDepositToken
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        if (_authorizationStates[authorizer][nonce]) revert DepositTokenAuthorizationAlreadyUsed(authorizer, nonce);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
        _requireSignature(authorizer, digest, v, r, s);
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    /// @inheritdoc IDepositToken
    function batchTransferWithAuthorization(Authorization[] calldata auths)
        external
        returns (uint256 succeeded, uint256 executed)
    {
        for (uint256 i = 0; i < auths.length; ++i) {
            // A self-call gives each authorization its own revert scope: a failure undoes only its own writes.
            try this.executeAuthorization(auths[i]) {
                if (i < 256) succeeded |= 1 << i;
                ++executed;
            } catch (bytes memory reason) {
                emit AuthorizationFailed(auths[i].from, auths[i].nonce, reason);
            }
        }
    }

    /// @inheritdoc IDepositToken
    function executeAuthorization(Authorization calldata auth) external {
        if (msg.sender != address(this)) revert DepositTokenCallerNotSelf(msg.sender);
        _executeAuthorization(auth);
    }

    /// @inheritdoc IDepositToken
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationStates[authorizer][nonce];
    }

    // ------------------------------------------------------ supply and minters ---

    /// @inheritdoc IDepositToken
    function configureMinter(address minter, uint256 allowance_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (minter == address(0)) revert DepositTokenZeroAddress();
        _grantRole(MINTER_ROLE, minter);
        _minterAllowances[minter] = allowance_;
        emit MinterConfigured(minter, allowance_);
    }

    /// @inheritdoc IDepositToken
    function removeMinter(address minter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        // Revoking the role clears the allowance (`_revokeRole`); a minter without the role may still hold one.
        if (!_revokeRole(MINTER_ROLE, minter)) {
            delete _minterAllowances[minter];
            emit MinterRemoved(minter);
        }
    }

    /// @inheritdoc IDepositToken
    function minterAllowance(address minter) external view returns (uint256) {
        return _minterAllowances[minter];
    }

    /// @inheritdoc IDepositToken
    function mint(address to, uint256 value) external onlyRole(MINTER_ROLE) {
        uint256 tag = _tagWhenNotPaused();
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 remaining = _minterAllowances[msg.sender];
        if (value > remaining) revert DepositTokenMinterAllowanceExceeded(msg.sender, remaining, value);
        uint256 supply = _totalSupply;
        if (value > _AMOUNT_MASK - supply) revert DepositTokenSupplyOverflow(supply, value);
        uint256 dst = _accounts[to];
        _requireAllowed(to, dst, tag);
        unchecked {
            // value <= remaining, checked above.
            _minterAllowances[msg.sender] = remaining - value;
            // supply + value <= 2^96 - 1, checked above, and no balance exceeds the supply, so neither sum
            // carries out of the 96 balance bits.
            _totalSupply = supply + value;
            _accounts[to] = dst + value;
        }
        emit Transfer(address(0), to, value);
        emit Minted(msg.sender, to, value);
    }

    /// @inheritdoc IDepositToken
    function burn(uint256 value) external onlyRole(BURNER_ROLE) {
        uint256 tag = _tagWhenNotPaused();
        uint256 src = _accounts[msg.sender];
        _requireCanSend(msg.sender, src, value, tag);
        unchecked {
            // value <= balance <= total supply, checked by _requireCanSend.
            _accounts[msg.sender] = src - value;
            _totalSupply -= value;
        }
        emit Transfer(msg.sender, address(0), value);
        emit Burned(msg.sender, value);
    }

    /// @inheritdoc IDepositToken
    function pause() external onlyRole(PAUSER_ROLE) {
        uint256 control = _control;
        if (control & _PAUSED != 0) revert EnforcedPause();
        _control = control | _PAUSED;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IDepositToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        uint256 control = _control;
        if (control & _PAUSED == 0) revert ExpectedPause();
        _control = control & ~_PAUSED;
        emit Unpaused(msg.sender);
    }

    /// @inheritdoc IDepositToken
    function paused() external view returns (bool) {
        return _control & _PAUSED != 0;
    }

    // -------------------------------------------------------------- compliance ---

    /// @inheritdoc IDepositToken
    function registry() external view returns (IComplianceRegistry) {
        return _registry;
    }

    /// @inheritdoc IDepositToken
    function setRegistry(IComplianceRegistry newRegistry) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(newRegistry) == address(0)) revert DepositTokenZeroAddress();
        emit RegistryChanged(address(_registry), address(newRegistry));
        _registry = newRegistry;
        uint256 control = _control;
        if (control & _LINKED != 0) {
            _control = control & ~_LINKED;
            emit RegistryLinkChanged(address(newRegistry), false, (control >> _EPOCH_SHIFT) & 0xff);
        }
    }

    /// @inheritdoc IDepositToken
    function setRegistryLink(bool linked) external onlyRegistry {
        uint256 control = _control;
        uint256 epoch = (control >> _EPOCH_SHIFT) & 0xff;
        if (linked) {
            if (epoch == _MAX_EPOCH) revert DepositTokenRelinkLimit();
            ++epoch;
            control = (control & ~(uint256(0xff) << _EPOCH_SHIFT)) | (epoch << _EPOCH_SHIFT) | _LINKED;
        } else {
            control &= ~_LINKED;
        }
        _control = control;
        emit RegistryLinkChanged(msg.sender, linked, epoch);
    }

    /// @inheritdoc IDepositToken
    function registryLink() external view returns (bool linked, uint256 epoch) {
        uint256 control = _control;
        return (control & _LINKED != 0, (control >> _EPOCH_SHIFT) & 0xff);
    }

    /// @inheritdoc IDepositToken
    function applyCompliance(address account, IComplianceRegistry.Status calldata status) external onlyRegistry {
        _cacheStatus(account, status);
    }

    /// @inheritdoc IDepositToken
    function syncCompliance(address[] calldata accounts) external {
        IComplianceRegistry source = _registry;
        for (uint256 i = 0; i < accounts.length; ++i) {
            _cacheStatus(accounts[i], source.statusOf(accounts[i]));
        }
    }

    /// @inheritdoc IDepositToken
    function freeze(address account) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert DepositTokenZeroAddress();
        _accounts[account] |= _FROZEN << _FLAGS_SHIFT;
        emit AccountFrozen(account);
    }

    /// @inheritdoc IDepositToken
    function unfreeze(address account) external onlyRole(COMPLIANCE_ROLE) {
        _accounts[account] &= ~(_FROZEN << _FLAGS_SHIFT);
        emit AccountUnfrozen(account);
    }

    /// @inheritdoc IDepositToken
    function setFrozenAmount(address account, uint256 amount) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert DepositTokenZeroAddress();
        if (amount > _AMOUNT_MASK) revert DepositTokenFrozenAmountOverflow(amount);
        uint256 word = _accounts[account];
        emit FrozenAmountChanged(account, (word >> _FROZEN_SHIFT) & _AMOUNT_MASK, amount);
        _accounts[account] = _withFrozen(word, amount);
    }

    /// @inheritdoc IDepositToken
    function forcedTransfer(address from, address to, uint256 value, uint16 reasonCode, bytes32 legalOrderHash)
        external
        onlyRole(COMPLIANCE_ROLE)
    {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        // Moving to oneself would release frozen funds and log a transfer while moving nothing.
        if (from == to) revert DepositTokenTransferToSelf(from);
        uint256 src = _accounts[from];
        uint256 balance = src & _AMOUNT_MASK;
        if (value > balance) revert ERC20InsufficientBalance(from, balance, value);
        uint256 frozen = (src >> _FROZEN_SHIFT) & _AMOUNT_MASK;
        uint256 free = frozen >= balance ? 0 : balance - frozen;
        if (value > free) {
            // The order reaches into frozen funds: release exactly the part it takes, keep the rest frozen.
            uint256 released = value - free;
            emit FrozenAmountChanged(from, frozen, frozen - released);
            src = _withFrozen(src, frozen - released);
        }
        _settle(from, src, to, value, _cacheTag(_control));
        emit TransferForced(from, to, value, reasonCode, legalOrderHash);
    }

    /// @inheritdoc IDepositToken
    function recoverAccount(address lost, address replacement, bytes32 legalOrderHash)
        external
        onlyRole(COMPLIANCE_ROLE)
    {
        if (lost == address(0) || replacement == address(0)) revert DepositTokenZeroAddress();
        if (lost == replacement) revert DepositTokenRecoveryToSelf(lost);
        uint256 src = _accounts[lost];
        uint256 balance = src & _AMOUNT_MASK;
        uint256 frozen = (src >> _FROZEN_SHIFT) & _AMOUNT_MASK;
        bool wasFrozen = (src >> _FLAGS_SHIFT) & _FROZEN != 0;
        // The lost key must not move anything again: empty it and freeze it.
        _accounts[lost] = (src & ~_AMOUNTS) | (_FROZEN << _FLAGS_SHIFT);

        uint256 dst = _accounts[replacement];
        _requireAllowed(replacement, dst, _cacheTag(_control));
        uint256 dstFrozen = (dst >> _FROZEN_SHIFT) & _AMOUNT_MASK;
        if (frozen > _AMOUNT_MASK - dstFrozen) revert DepositTokenFrozenAmountOverflow(frozen + dstFrozen);
        unchecked {
            // The balance came out of another account, so the sum stays within the supply.
            dst = _withFrozen(dst + balance, dstFrozen + frozen);
        }
        if (wasFrozen) dst |= _FROZEN << _FLAGS_SHIFT;
        _accounts[replacement] = dst;

        emit Transfer(lost, replacement, balance);
        emit AccountRecovered(lost, replacement, balance, legalOrderHash);
        emit AccountFrozen(lost);
        if (frozen != 0) {
            emit FrozenAmountChanged(lost, frozen, 0);
            emit FrozenAmountChanged(replacement, dstFrozen, dstFrozen + frozen);
        }
        if (wasFrozen) emit AccountFrozen(replacement);
    }

    /// @inheritdoc IDepositToken
    function isAllowed(address account) external view returns (bool) {
        uint256 word = _accounts[account];
        uint256 flags = word >> _FLAGS_SHIFT;
        return flags & (_VERIFIED | _BLOCKED) == _VERIFIED && uint40(word >> _EXPIRY_SHIFT) > block.timestamp
            && flags >> _TAG_SHIFT == _cacheTag(_control);
    }

    /// @inheritdoc IDepositToken
    function isFrozen(address account) external view returns (bool) {
        return (_accounts[account] >> _FLAGS_SHIFT) & _FROZEN != 0;
    }

    /// @inheritdoc IDepositToken
    function frozenBalanceOf(address account) external view returns (uint256) {
        return (_accounts[account] >> _FROZEN_SHIFT) & _AMOUNT_MASK;
    }

    /// @inheritdoc IDepositToken
    function cachedStatusOf(address account) external view returns (IComplianceRegistry.Status memory) {
        uint256 word = _accounts[account];
        uint256 flags = word >> _FLAGS_SHIFT;
        return IComplianceRegistry.Status({
            verified: flags & _VERIFIED != 0,
            blocked: flags & _BLOCKED != 0,
            expiry: uint40(word >> _EXPIRY_SHIFT),
            jurisdiction: uint16(word >> _JURISDICTION_SHIFT)
        });
    }

    // --------------------------------------------------------------- internals ---

    /// @dev The one movement path for transfers, `transferFrom` and authorizations.
    function _transfer(address from, address to, uint256 value) private {
        uint256 tag = _tagWhenNotPaused();
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 src = _accounts[from];
        _requireCanSend(from, src, value, tag);
        _settle(from, src, to, value, tag);
    }

    /// @dev Reverts when paused; otherwise the cache tag a current status carries.
    function _tagWhenNotPaused() private view returns (uint256) {
        uint256 control = _control;
        if (control & _PAUSED != 0) revert EnforcedPause();
        return _cacheTag(control);
    }

    /// @dev The tag a status cached in the current epoch carries; none while the token is unlinked.
    function _cacheTag(uint256 control) private pure returns (uint256) {
        return control & _LINKED != 0 ? (control >> _EPOCH_SHIFT) & 0xff : _NO_TAG;
    }

    /// @dev Debits `value` from `from` (whose account word, already checked, is `src`) and credits an
    /// allowed `to`. The caller has checked value <= balance.
    function _settle(address from, uint256 src, address to, uint256 value, uint256 tag) private {
        unchecked {
            // value <= balance, so only the low 96 bits change.
            _accounts[from] = src - value;
        }
        // Read after the write, so that from == to nets out.
        uint256 dst = _accounts[to];
        _requireAllowed(to, dst, tag);
        unchecked {
            // No balance exceeds the supply, which fits 96 bits, so the sum does not carry into the frozen bits.
            _accounts[to] = dst + value;
        }
        emit Transfer(from, to, value);
    }

    function _requireCanSend(address account, uint256 word, uint256 value, uint256 tag) private view {
        _requireAllowed(account, word, tag);
        if ((word >> _FLAGS_SHIFT) & _FROZEN != 0) revert DepositTokenAccountFrozen(account);
        uint256 balance = word & _AMOUNT_MASK;
        if (value > balance) revert ERC20InsufficientBalance(account, balance, value);
        uint256 frozen = (word >> _FROZEN_SHIFT) & _AMOUNT_MASK;
        if (frozen != 0) {
            uint256 free = frozen >= balance ? 0 : balance - frozen;
            if (value > free) revert DepositTokenInsufficientUnfrozenBalance(account, free, value);
        }
    }

    function _requireAllowed(address account, uint256 word, uint256 tag) private view {
        uint256 flags = word >> _FLAGS_SHIFT;
        if (
            flags & (_VERIFIED | _BLOCKED) != _VERIFIED || uint40(word >> _EXPIRY_SHIFT) <= block.timestamp
                || flags >> _TAG_SHIFT != tag
        ) {
            if (flags & _BLOCKED != 0) revert DepositTokenAccountBlocked(account);
            if (flags & _VERIFIED == 0) revert DepositTokenAccountNotVerified(account);
            if (flags >> _TAG_SHIFT != tag) revert DepositTokenComplianceStale(account);
            revert DepositTokenKycExpired(account, uint40(word >> _EXPIRY_SHIFT));
        }
    }

    function _executeAuthorization(Authorization calldata auth) private {
        bytes32 structHash = auth.paymentReference == bytes32(0)
            ? keccak256(
                abi.encode(
                    TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
                    auth.from,
                    auth.to,
                    auth.value,
                    auth.validAfter,
                    auth.validBefore,
                    auth.nonce
                )
            )
            : keccak256(
                abi.encode(
                    TRANSFER_WITH_REFERENCE_AUTHORIZATION_TYPEHASH,
                    auth.from,
                    auth.to,
                    auth.value,
                    auth.validAfter,
                    auth.validBefore,
                    auth.nonce,
                    auth.paymentReference
                )
            );
        _useAuthorization(auth.from, auth.validAfter, auth.validBefore, auth.nonce, structHash, auth.v, auth.r, auth.s);
        _transfer(auth.from, auth.to, auth.value);
        if (auth.paymentReference != bytes32(0)) {
            emit TransferReferenced(auth.from, auth.to, auth.value, auth.paymentReference);
        }
    }

    function _useAuthorization(
        address authorizer,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes32 structHash,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private {
        if (block.timestamp <= validAfter) revert DepositTokenAuthorizationNotYetValid(validAfter, block.timestamp);
        if (block.timestamp >= validBefore) revert DepositTokenAuthorizationExpired(validBefore, block.timestamp);
        if (_authorizationStates[authorizer][nonce]) revert DepositTokenAuthorizationAlreadyUsed(authorizer, nonce);
        _requireSignature(authorizer, _hashTypedDataV4(structHash), v, r, s);
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationUsed(authorizer, nonce);
    }

    /// @dev Accepts an ECDSA signature by `expected`, or an ERC-1271 approval when `expected` is a contract.
    function _requireSignature(address expected, bytes32 digest, uint8 v, bytes32 r, bytes32 s) private view {
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, v, r, s);
        if (error == ECDSA.RecoverError.NoError && signer == expected && signer != address(0)) return;
        if (
            expected.code.length != 0
                && SignatureChecker.isValidERC1271SignatureNow(expected, digest, abi.encodePacked(r, s, v))
        ) return;
        revert DepositTokenInvalidSignature(signer, expected);
    }

    function _cacheStatus(address account, IComplianceRegistry.Status memory status) private {
        if (account == address(0)) revert DepositTokenZeroAddress();
        uint256 word = _accounts[account];
        // The token's own freeze stays; the status is tagged with the epoch it was written in.
        uint256 flags = ((word >> _FLAGS_SHIFT) & _FROZEN) | (((_control >> _EPOCH_SHIFT) & 0xff) << _TAG_SHIFT);
        if (status.verified) flags |= _VERIFIED;
        if (status.blocked) flags |= _BLOCKED;
        _accounts[account] = (word & _AMOUNTS) | (uint256(status.expiry) << _EXPIRY_SHIFT)
            | (uint256(status.jurisdiction) << _JURISDICTION_SHIFT) | (flags << _FLAGS_SHIFT);
        emit ComplianceCached(account, status.verified, status.blocked, status.expiry, status.jurisdiction);
    }

    function _withFrozen(uint256 word, uint256 frozen) private pure returns (uint256) {
        return (word & ~(_AMOUNT_MASK << _FROZEN_SHIFT)) | (frozen << _FROZEN_SHIFT);
    }

    /// @dev Revoking `MINTER_ROLE` in any way (revokeRole, renounceRole, removeMinter) clears the allowance,
    /// so a later grant cannot silently revive it.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == MINTER_ROLE) {
            delete _minterAllowances[account];
            emit MinterRemoved(account);
        }
    }

    function _approve(address owner, address spender, uint256 value) private {
        if (owner == address(0)) revert ERC20InvalidApprover(address(0));
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        _allowances[owner][spender] = value;
        emit Approval(owner, spender, value);
    }

    function _spendAllowance(address owner, address spender, uint256 value) private {
        uint256 current = _allowances[owner][spender];
        if (current == type(uint256).max) return;
        if (current < value) revert ERC20InsufficientAllowance(spender, current, value);
        unchecked {
            // value <= current, checked above.
            _allowances[owner][spender] = current - value;
        }
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAtomicSettlement} from "./IAtomicSettlement.sol";
import {IReceiveWithAuthorization} from "./IReceiveWithAuthorization.sol";

/**
 * @title AtomicSettlement
 * @notice All-or-nothing settlement of signed token movements: PvP between two parties (FX between banks,
 * a customer's conversion against the bank's FX book) and cross-border payments (a customer's deposit
 * tokens to her bank, settlement tokens between the banks, the other bank's deposit tokens to the payee),
 * in one transaction. It holds nothing between transactions and has no owner.
 */
contract AtomicSettlement is IAtomicSettlement, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The most legs one settlement may carry.
    uint256 public constant MAX_LEGS = 16;

    bytes32 public constant LEG_TYPEHASH = keccak256("Leg(address token,address from,address to,uint256 value)");
    bytes32 public constant SETTLEMENT_TYPEHASH = keccak256(
        "Settlement(bytes32 ref,Leg[] legs,uint256 deadline)Leg(address token,address from,address to,uint256 value)"
    );
    bytes32 public constant CANCEL_TYPEHASH = keccak256("CancelSettlement(bytes32 id)");

    mapping(bytes32 id => State) private _states;

    constructor() EIP712("tdw Atomic Settlement", "1") {}

    /// @inheritdoc IAtomicSettlement
    function settle(Settlement calldata s, Signature[] calldata signatures)
        external
        nonReentrant
        returns (bytes32 id)
    {
        uint256 count = s.legs.length;
        if (count == 0 || count > MAX_LEGS) revert SettlementLegCount(count, MAX_LEGS);
        if (signatures.length != count) revert SettlementSignatureCount(signatures.length, count);
        if (block.timestamp >= s.deadline) revert SettlementExpired(s.deadline, block.timestamp);
        id = _id(s);
        if (_states[id] != State.Open) revert SettlementClosed(id, _states[id]);
        _states[id] = State.Settled;
        for (uint256 i = 0; i < count; ++i) {
            Leg calldata leg = s.legs[i];
            if (leg.value == 0 || leg.from == leg.to || leg.to == address(0) || leg.token == address(0)) {
                revert SettlementInvalidLeg(i);
            }
            Signature calldata sig = signatures[i];
            IReceiveWithAuthorization(leg.token).receiveWithAuthorization(
                leg.from, address(this), leg.value, 0, s.deadline, _legNonce(id, i), sig.v, sig.r, sig.s
            );
        }
        for (uint256 i = 0; i < count; ++i) {
            Leg calldata leg = s.legs[i];
            IERC20(leg.token).safeTransfer(leg.to, leg.value);
        }
        emit Settled(id, s.ref, count, msg.sender);
    }

    /// @inheritdoc IAtomicSettlement
    function cancel(Settlement calldata s, uint256 party, Signature calldata signature) external {
        bytes32 id = _id(s);
        if (_states[id] != State.Open) revert SettlementClosed(id, _states[id]);
        if (party >= s.legs.length) revert SettlementNotPayer(party, address(0));
        address payer = s.legs[party].from;
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, id)));
        bytes memory packed = abi.encodePacked(signature.r, signature.s, signature.v);
        if (!SignatureChecker.isValidSignatureNow(payer, digest, packed)) revert SettlementNotPayer(party, payer);
        _states[id] = State.Cancelled;
        emit Cancelled(id, s.ref, payer);
    }

    /// @inheritdoc IAtomicSettlement
    function settlementId(Settlement calldata s) external view returns (bytes32) {
        return _id(s);
    }

    /// @inheritdoc IAtomicSettlement
    function legNonce(bytes32 id, uint256 index) external pure returns (bytes32) {
        return _legNonce(id, index);
    }

    /// @inheritdoc IAtomicSettlement
    function stateOf(bytes32 id) external view returns (State) {
        return _states[id];
    }

    /// @notice This contract's EIP-712 domain separator (settlement ids and cancellations are signed in it).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _id(Settlement calldata s) private view returns (bytes32) {
        uint256 count = s.legs.length;
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            Leg calldata leg = s.legs[i];
            hashes[i] = keccak256(abi.encode(LEG_TYPEHASH, leg.token, leg.from, leg.to, leg.value));
        }
        return _hashTypedDataV4(
            keccak256(abi.encode(SETTLEMENT_TYPEHASH, s.ref, keccak256(abi.encodePacked(hashes)), s.deadline))
        );
    }

    function _legNonce(bytes32 id, uint256 index) private pure returns (bytes32) {
        return keccak256(abi.encode(id, index));
    }
}

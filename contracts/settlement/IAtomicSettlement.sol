// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IAtomicSettlement
 * @notice Executes a set of token movements all or nothing before a deadline. Each movement (a leg) is
 * authorized by its payer with an EIP-3009 `ReceiveWithAuthorization` to this contract whose nonce is
 * `legNonce(settlementId(s), i)`: the signature is bound to the whole set, so no leg can be taken
 * without the others (no party can take without giving), and the id's EIP-712 domain binds it to this
 * contract on this chain. The tokens' own compliance rules apply to every leg twice: payer to this
 * contract, then this contract to the payee.
 */
interface IAtomicSettlement {
    /// @notice One movement: `value` of `token` from `from` to `to`.
    struct Leg {
        address token;
        address from;
        address to;
        uint256 value;
    }

    /// @notice A set of legs, the deadline before which they may settle, and the parties' own reference.
    struct Settlement {
        bytes32 ref;
        Leg[] legs;
        uint256 deadline;
    }

    /// @notice A leg's EIP-3009 signature, in the order of the legs.
    struct Signature {
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice What became of a settlement id.
    enum State {
        Open,
        Settled,
        Cancelled
    }

    /// @notice Every leg of settlement `id` moved; `ref` is the parties' reference.
    event Settled(bytes32 indexed id, bytes32 indexed ref, uint256 legs, address submitter);
    /// @notice The payer of leg `party` cancelled settlement `id`; it can no longer settle.
    event Cancelled(bytes32 indexed id, bytes32 indexed ref, address indexed payer);

    /// @notice A settlement needs 1 to `max` legs; it had `count`.
    error SettlementLegCount(uint256 count, uint256 max);
    /// @notice `signatures` signatures for `legs` legs.
    error SettlementSignatureCount(uint256 signatures, uint256 legs);
    /// @notice Leg `index` moves nothing, or to its own payer, or names a zero address.
    error SettlementInvalidLeg(uint256 index);
    /// @notice The deadline `deadline` has passed; it is `timestamp`.
    error SettlementExpired(uint256 deadline, uint256 timestamp);
    /// @notice Settlement `id` is settled or cancelled already (`state`).
    error SettlementClosed(bytes32 id, State state);
    /// @notice The cancellation of leg `party` was not signed by its payer `payer`.
    error SettlementNotPayer(uint256 party, address payer);

    /**
     * @notice Moves every leg of `s` or none: each payer's tokens come to this contract under its signed
     * authorization, then go to the payee. Anyone may submit; it settles once.
     * @param s The settlement.
     * @param signatures One EIP-3009 `ReceiveWithAuthorization` signature per leg, in order: from the
     * leg's payer, to this contract, its value, valid after 0 and before `s.deadline`, with nonce
     * `legNonce(settlementId(s), i)`.
     * @return id The settlement's id.
     */
    function settle(Settlement calldata s, Signature[] calldata signatures) external returns (bytes32 id);

    /**
     * @notice Cancels `s` for good, signed by the payer of one of its legs (EIP-712
     * `CancelSettlement(bytes32 id)` in this contract's domain; ERC-1271 for a payer that is a contract);
     * anyone may submit it.
     * @param s The settlement.
     * @param party The index of the leg whose payer signed.
     * @param signature The payer's signature.
     */
    function cancel(Settlement calldata s, uint256 party, Signature calldata signature) external;

    /**
     * @notice The EIP-712 hash of `s` in this contract's domain: its id.
     * @param s The settlement.
     * @return The id.
     */
    function settlementId(Settlement calldata s) external view returns (bytes32);

    /**
     * @notice The EIP-3009 nonce leg `index` of settlement `id` is signed with.
     * @param id The settlement's id.
     * @param index The leg's index.
     * @return The nonce.
     */
    function legNonce(bytes32 id, uint256 index) external pure returns (bytes32);

    /**
     * @notice Whether settlement `id` is open, settled or cancelled.
     * @param id The settlement's id.
     * @return The state.
     */
    function stateOf(bytes32 id) external view returns (State);
}

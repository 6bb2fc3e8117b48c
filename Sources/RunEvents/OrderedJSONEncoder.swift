import Foundation

/// Encodes an `Encodable` into a `JSONValue` whose objects keep their keys in the order they
/// were encoded (`CodingKeys` order for synthesized conformances). `JSONEncoder` orders keys
/// by hash or alphabetically; the CLI's JSON reports have a documented order that agents and
/// golden files read, so the typed reports are serialized through this instead.
public struct OrderedJSONEncoder: Sendable {
    public init() {}

    /// The value as a `JSONValue`.
    public func value(of value: some Encodable) throws -> JSONValue {
        let root = Slot()
        try value.encode(to: SlotEncoder(slot: root, codingPath: []))
        return root.value
    }

    /// Compact JSON text, exactly as `JSONValue.serialized()` writes it.
    public func serialized(_ value: some Encodable) throws -> String {
        try self.value(of: value).serialized()
    }
}

/// One value being built: a leaf, an object (keys in encoding order) or an array.
private final class Slot {
    enum Content {
        case empty
        case leaf(JSONValue)
        case object([(String, Slot)])
        case array([Slot])
    }

    var content = Content.empty

    var value: JSONValue {
        switch content {
        case .empty: .object([])
        case .leaf(let value): value
        case .object(let pairs): .object(pairs.map { ($0.0, $0.1.value) })
        case .array(let items): .array(items.map(\.value))
        }
    }

    /// The slot for `key`, created at the end on first use (a key encoded twice keeps its place).
    func child(forKey key: String) -> Slot {
        if case .object(var pairs) = content {
            if let existing = pairs.first(where: { $0.0 == key }) { return existing.1 }
            let slot = Slot()
            pairs.append((key, slot))
            content = .object(pairs)
            return slot
        }
        let slot = Slot()
        content = .object([(key, slot)])
        return slot
    }

    func appendChild() -> Slot {
        let slot = Slot()
        if case .array(let items) = content { content = .array(items + [slot]) } else { content = .array([slot]) }
        return slot
    }

    func makeObject() { if case .object = content {} else { content = .object([]) } }
    func makeArray() { if case .array = content {} else { content = .array([]) } }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) { intValue = index; stringValue = "\(index)" }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(intValue) }
}

private struct SlotEncoder: Encoder {
    let slot: Slot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        slot.makeObject()
        return KeyedEncodingContainer(KeyedSlotContainer<Key>(slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        slot.makeArray()
        return UnkeyedSlotContainer(slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleSlotContainer(slot: slot, codingPath: codingPath)
    }
}

/// Encodes `value` into `slot`: integers, strings, booleans and doubles become leaves
/// directly, everything else encodes itself.
private func encodeValue(_ value: some Encodable, into slot: Slot, codingPath: [any CodingKey]) throws {
    switch value {
    case let value as String: slot.content = .leaf(.string(value))
    case let value as Bool: slot.content = .leaf(.bool(value))
    case let value as Int: slot.content = .leaf(.int(Int64(value)))
    case let value as Int64: slot.content = .leaf(.int(value))
    case let value as Int32: slot.content = .leaf(.int(Int64(value)))
    case let value as UInt32: slot.content = .leaf(.int(Int64(value)))
    case let value as Double: slot.content = .leaf(.double(value))
    default: try value.encode(to: SlotEncoder(slot: slot, codingPath: codingPath))
    }
}

private struct KeyedSlotContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { slot.child(forKey: key.stringValue).content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: slot.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = slot.child(forKey: key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(KeyedSlotContainer<NestedKey>(slot: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = slot.child(forKey: key.stringValue)
        child.makeArray()
        return UnkeyedSlotContainer(slot: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(slot: slot.child(forKey: "super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        SlotEncoder(slot: slot.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedSlotContainer: UnkeyedEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]
    var count: Int {
        if case .array(let items) = slot.content { return items.count }
        return 0
    }

    mutating func encodeNil() throws { slot.appendChild().content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try encodeValue(value, into: slot.appendChild(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        let child = slot.appendChild()
        child.makeObject()
        return KeyedEncodingContainer(KeyedSlotContainer<NestedKey>(slot: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        let child = slot.appendChild()
        child.makeArray()
        return UnkeyedSlotContainer(slot: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(slot: slot.appendChild(), codingPath: codingPath)
    }
}

private struct SingleSlotContainer: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.content = .leaf(.null) }
    mutating func encode(_ value: Bool) throws { slot.content = .leaf(.bool(value)) }
    mutating func encode(_ value: String) throws { slot.content = .leaf(.string(value)) }
    mutating func encode(_ value: Double) throws { slot.content = .leaf(.double(value)) }
    mutating func encode(_ value: Float) throws { slot.content = .leaf(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { slot.content = .leaf(.int(value)) }
    mutating func encode(_ value: UInt) throws { try encodeUnsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) throws { slot.content = .leaf(.int(Int64(value))) }
    mutating func encode(_ value: UInt64) throws { try encodeUnsigned(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: slot, codingPath: codingPath) }

    private func encodeUnsigned(_ value: UInt64) throws {
        guard let signed = Int64(exactly: value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) does not fit a JSON integer here (Int64)"))
        }
        slot.content = .leaf(.int(signed))
    }
}

import FragranceCore
import FragranceProtocol
import Foundation

// Records as flat JSON objects, the shape every interface uses:
// {"id": "fr-1", "vector": [..], "name": "…", "seasons": ["spring"], "notes": {"top": [..]}, …}
extension Record {
    /// Decodes a flat JSON object; every key but `id` and `vector` is an attribute.
    public init(jsonObject: Any) throws { try self.init(jsonObject: jsonObject, vector: nil) }

    /// `vector`: the record's vector when VectorScanner already lifted it from the text.
    init(jsonObject: Any, vector lifted: [Float]?) throws {
        guard let o = jsonObject as? [String: Any] else { throw StoreError(.badRecord, "a record must be a JSON object") }
        guard let id = o["id"] as? String else { throw StoreError(.badRecord, "a record needs a string \"id\"") }
        var r = Record(id: id)
        // Metatype tests: `v is NSNull` would bridge each value to an object first.
        if let lifted {
            r.vector = lifted
        } else if let text = o["vector"] as? String, let binary = BinaryVector.decode(text) {
            switch binary {
            case .success(let f): r.vector = f
            case .failure(let why): throw StoreError(.badRecord, "record '\(id)': \"vector\" b64:…: \(why)")
            }
        } else if let v = o["vector"], !(type(of: v) is NSNull.Type) {
            guard let list = v as? [Any] else {
                throw StoreError(.badRecord, "record '\(id)': \"vector\" must be an array of numbers or \"b64:<base64 of little-endian float32>\"")
            }
            r.vector = try list.map { x -> Float in
                guard let n = x as? NSNumber, !isJSONBool(n) else { throw StoreError(.badRecord, "record '\(id)': \"vector\" must hold only numbers") }
                return n.floatValue
            }
        }
        for (key, value) in o where key != "id" && key != "vector" {
            if type(of: value) is NSNull.Type { continue }
            r.attributes[key] = try AttributeValue(json: value, field: key, record: id)
        }
        self = r
    }

    /// Strict JSON with the vectors lifted out by the scanner (numbered by object in an array).
    static func parsedLifted(_ text: String) throws -> (value: Any, vectors: [Int: [Float]]) {
        let data = Data(text.utf8)
        if let problem = data.withUnsafeBytes({ StrictJSON.problem($0) }) { throw StoreError(.badJSON, "not valid JSON: \(problem)") }
        let lifted = VectorScanner.lift(data)
        guard let value = try? JSONSerialization.jsonObject(with: lifted?.rest ?? data, options: [.fragmentsAllowed]) else {
            throw StoreError(.badJSON, "not valid JSON")
        }
        return (value, lifted?.vectors ?? [:])
    }

    /// Parses one JSON record or an array of them.
    public static func decodeList(json text: String) throws -> [Record] {
        let (value, vectors) = try parsedLifted(text)
        guard let list = value as? [Any] else { return [try Record(jsonObject: value, vector: vectors[0])] }
        var objects = 0   // the scanner numbers the array's objects, skipping other elements
        return try list.map { element in
            guard element is [String: Any] else { return try Record(jsonObject: element) }   // throws: not an object
            defer { objects += 1 }
            return try Record(jsonObject: element, vector: vectors[objects])
        }
    }

    /// Like `decodeList`, one result per element: a bad element is its own error, not the
    /// list's (bulk writes item by item). Text that is not JSON at all still throws.
    public static func decodeItems(json text: String) throws -> [(id: String?, record: Result<Record, StoreError>)] {
        let (value, vectors) = try parsedLifted(text)
        let list = value as? [Any] ?? [value]
        var objects = 0
        return list.map { element in
            let id = (element as? [String: Any])?["id"] as? String
            let vector: [Float]?
            if element is [String: Any] { vector = vectors[objects]; objects += 1 } else { vector = nil }
            do { return (id, .success(try Record(jsonObject: element, vector: vector))) }
            catch let e as StoreError { return (id, .failure(e)) }
            catch { return (id, .failure(StoreError(.badRecord, "\(error)"))) }
        }
    }

    /// `jsonObject` as text, written directly. Building the object boxes every vector
    /// component, and writing it then tries each one against a list of types: the TCP
    /// importer's client spent 18 of its 19 CPU-seconds there on the catalogue. Components
    /// are written as their shortest Float text, which reads back to the same Float.
    public func jsonText(includeVector: Bool = false, binaryVector: Bool = false) -> String {
        var out = ""
        write(includeVector: includeVector, binary: binaryVector, into: &out)
        return out
    }

    /// A JSON array of records, as `jsonText` writes each.
    /// `binaryVectors`: vectors in the binary form ("b64:…", BinaryVector), what the importer
    /// sends a server: shorter than the numbers, and the server decodes them without parsing.
    public static func jsonList(_ records: [Record], includeVectors: Bool, binaryVectors: Bool = false) -> String {
        var out = "["
        out.reserveCapacity(records.count * (includeVectors ? 4_500 : 500))
        for (i, r) in records.enumerated() {
            if i > 0 { out.append(",") }
            r.write(includeVector: includeVectors && r.vector != nil, binary: binaryVectors, into: &out)
        }
        out.append("]")
        return out
    }

    func write(includeVector: Bool, binary: Bool = false, into out: inout String) {
        var keys = attributes.keys.filter { $0 != "id" && $0 != "vector" }
        keys.append("id")
        if includeVector, vector != nil { keys.append("vector") }
        keys.sort()
        out.append("{")
        for (i, key) in keys.enumerated() {
            if i > 0 { out.append(",") }
            JSONWriter.string(key, into: &out)
            out.append(":")
            switch key {
            case "id": JSONWriter.string(id, into: &out)
            case "vector" where binary:
                JSONWriter.string(BinaryVector.encode(vector!), into: &out)
            case "vector":
                out.append("[")
                for (j, x) in vector!.enumerated() {
                    if j > 0 { out.append(",") }
                    if !x.isFinite { out.append("null") }
                    else if x == x.rounded(), abs(x) < 1e7, x.sign == .plus || x != 0 { out.append(String(Int(x))) }   // -0 keeps its sign
                    else { out.append(x.description) }
                }
                out.append("]")
            default: JSONWriter.write(attributes[key]!.jsonValue, into: &out)
            }
        }
        out.append("}")
    }

    /// The flat JSON object (sorted keys), with or without the vector.
    public func jsonObject(includeVector: Bool = false) -> [String: Any] {
        var o: [String: Any] = ["id": id]
        if includeVector, let vector { o["vector"] = vector.map { Double($0) } }
        for (k, v) in attributes { o[k] = v.jsonValue }
        return o
    }
}

extension AttributeValue {
    init(json value: Any, field: String, record: String) throws {
        func bad() -> StoreError {
            StoreError(.badRecord, "record '\(record)': '\(field)' must be a string, a number, true or false, a list of strings or an object of lists")
        }
        // A failed `as? String` on an NSNumber tries to bridge it (3% of a server's CPU during
        // a TCP import), so numbers skip that test.
        if !(type(of: value) is NSNumber.Type), let s = value as? String { self = .string(s); return }
        if let n = value as? NSNumber {
            // JSONSerialization's booleans are NSNumbers of type "c"; floats are "d".
            switch String(cString: n.objCType) {
            case "c", "B": self = .bool(n.boolValue)
            case "d", "f": self = .float(n.doubleValue)
            default: self = .int(n.int64Value)
            }
            return
        }
        if let list = value as? [Any] {
            guard let strings = list as? [String] else { throw bad() }
            self = .strings(strings)
            return
        }
        if let object = value as? [String: Any] {
            var tiers: [String: [String]] = [:]
            for (k, v) in object {
                guard let strings = v as? [String] else { throw bad() }
                tiers[k] = strings
            }
            self = .tiered(tiers)
            return
        }
        throw bad()
    }

    var jsonValue: Any {
        switch self {
        case .string(let s): return s
        case .int(let i): return i
        case .float(let d): return d
        case .bool(let b): return b
        case .strings(let a): return a
        case .tiered(let t): return t
        }
    }
}

/// Compact JSON text with sorted keys (stable output for people and tests).
public func jsonText(_ value: Any) -> String { JSONWriter.text(value) }

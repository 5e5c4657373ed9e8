import Foundation
import FragranceProtocol
import FragranceStore
import Perfumery

/// A request's filter: a string in the grammar of schemas/filter.md, the structured object
/// form, or both (ANDed). Both protocols hand the service one of these; the service turns it
/// into one expression against the collection's schema, so the checks are the same.
public struct FilterInput: Sendable {
    public var text: String?
    public var object: FilterObject?
    public init(text: String? = nil, object: FilterObject? = nil) {
        self.text = text
        self.object = object
    }
    public static let none = FilterInput()

    func expression(for schema: CollectionSchema) throws -> String? {
        var parts: [String] = []
        if let object, let e = try object.expression(schema: schema) { parts.append(e) }
        if let text, !text.trimmingCharacters(in: .whitespaces).isEmpty { parts.append(text) }
        switch parts.count {
        case 0: return nil
        case 1: return parts[0]
        default: return parts.map { "(\($0))" }.joined(separator: " AND ")
        }
    }
}

/// The structured filter: field → value (equality; CONTAINS for sets), field → [values] (IN;
/// CONTAINS ANY), or field → {eq|ne|gt|gte|lt|lte|in|any|all|not: value}. Field names may be
/// the seed's (`fragrance_family`, `season`: `FieldAliases`).
public struct FilterObject: Sendable {
    public enum Literal: Sendable {
        case string(String)
        /// As sent, so the expression compares exactly what the client wrote.
        case number(String)
    }
    public enum Operand: Sendable {
        case literal(Literal)
        case list([Literal])
    }
    public enum Condition: Sendable {
        case equals(Literal)
        case oneOf([Literal])
        case operators([(op: String, operand: Operand)])
    }
    public var clauses: [(key: String, condition: Condition)]
    public init(clauses: [(key: String, condition: Condition)]) { self.clauses = clauses }

    func expression(schema: CollectionSchema) throws -> String? {
        var parts: [String] = []
        for (key, condition) in clauses {
            let name = FieldAliases.canonical(key)
            let base = String(name.split(separator: ".").first ?? "")
            guard let field = schema.field(base) else {
                throw ProtocolError(.badFilter, "unknown filter field '\(key)' (fields: \(schema.fields.filter { $0.type != .text }.map(\.name).joined(separator: ", ")))",
                                    field: "filters.\(key)")
            }
            let isSet = field.type == .set || field.type == .tieredSet
            func literal(_ l: Literal) -> String {
                switch l {
                case .string(let s): "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
                case .number(let n): n
                }
            }
            func list(_ items: [Literal]) throws -> String {
                guard !items.isEmpty else { throw ProtocolError(.badFilter, "filter '\(key)' has an empty list", field: "filters.\(key)") }
                return items.map(literal).joined(separator: ", ")
            }
            switch condition {
            case .equals(let l):
                parts.append(isSet ? "\(name) CONTAINS \(literal(l))" : "\(name) = \(literal(l))")
            case .oneOf(let items):
                parts.append(isSet ? "\(name) CONTAINS ANY (\(try list(items)))" : "\(name) IN (\(try list(items)))")
            case .operators(let ops):
                for (op, operand) in ops {
                    let symbol = ["eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="][op]
                    switch operand {
                    case .literal(let l) where symbol != nil && !isSet:
                        parts.append("\(name) \(symbol!) \(literal(l))")
                    case .list(let items) where op == "any" || op == "all" || op == "in":
                        parts.append(isSet ? "\(name) CONTAINS \(op == "all" ? "ALL" : "ANY") (\(try list(items)))" : "\(name) IN (\(try list(items)))")
                    case .literal(let l) where op == "not" && isSet:
                        parts.append("NOT \(name) CONTAINS \(literal(l))")
                    default:
                        throw ProtocolError(.badFilter, "filter '\(key)': operator '\(op)' does not apply (use eq, ne, gt, gte, lt, lte, in for scalars; any, all, not for sets)",
                                            field: "filters.\(key).\(op)")
                    }
                }
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: " AND ")
    }
}

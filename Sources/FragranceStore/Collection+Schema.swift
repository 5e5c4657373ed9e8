import Foundation

// A schema that grows: fields added by ALTER, or by a dynamic collection the first time a
// record carries them. Fields are only ever added (a stored value never changes type), each
// with its typed column or set table and its columns in the attribute mirror, in one
// transaction with the stored config.
extension Collection {
    /// Adds `fields` (and sets whether the collection is dynamic); returns the new config.
    /// A field that already exists is `ALREADY_EXISTS`; the grown schema is checked as a
    /// created one is.
    @discardableResult
    public func alter(adding fields: [FieldSchema], dynamic: Bool? = nil) throws -> CollectionConfig {
        try alter(adding: fields, dynamic: dynamic, origin: .local)
    }

    func alter(adding fields: [FieldSchema], dynamic: Bool?, origin: WriteOrigin) throws -> CollectionConfig {
        try lock.write {
            try checkOpen()
            let taken = config.schema.fields.map { $0.name.lowercased() }
            for f in fields where taken.contains(f.name.lowercased()) || fields.filter({ $0.name.lowercased() == f.name.lowercased() }).count > 1 {
                throw StoreError(.alreadyExists, "field '\(f.name)' already exists in '\(config.name)'")
            }
            return try grow(by: fields, dynamic: dynamic, origin: origin)
        }
    }

    /// The caller holds the write lock.
    private func grow(by fields: [FieldSchema], dynamic: Bool?, origin: WriteOrigin) throws -> CollectionConfig {
        let old = config
        var new = old
        new.schema.fields += fields
        if let dynamic { new.dynamic = dynamic }
        guard new != old else { return old }
        do { try new.schema.validate() } catch let e as StoreError { throw StoreError(e.code, "'\(old.name)': \(e.message)") }
        let before = Tables(old), after = Tables(new)
        let reindex = before.keywordFields.map(\.name) != after.keywordFields.map(\.name)
            || before.keywordFields.map(\.weight) != after.keywordFields.map(\.weight)
        try db.sqlLock.withLock {
            try db.sql.transaction {
                for f in fields {
                    if f.isSet {
                        try db.sql.execute(after.setTableStatement(f, name: after.set(f.name)))
                    } else {
                        let type = f.type == .int || f.type == .bool ? "INTEGER" : f.type == .float ? "REAL" : "TEXT"
                        try db.sql.execute("ALTER TABLE \(after.records) ADD COLUMN \(Tables.column(f.name)) \(type)")
                    }
                }
                // FTS5 tables take no new columns: a changed field list is a new index,
                // filled from the stored rows (rare: a new text field, or string fields of a
                // dynamic collection).
                if reindex {
                    try db.sql.execute("DROP TABLE IF EXISTS \(after.keywordTable)")
                    if let create = after.keywordCreateStatement {
                        try db.sql.execute(create)
                        let cols = after.keywordFields.map { "\"\($0.name)\"" }.joined(separator: ", ")
                        let sources = after.keywordFields.map { after.keywordSource($0.name) }.joined(separator: ", ")
                        try db.sql.execute("INSERT INTO \(after.keywordTable)(rowid, \(cols)) SELECT r.rid, \(sources) FROM \(after.records) r")
                    }
                }
                _ = try db.storeConfig(new)
                try db.replication.append(db.sql, origin: origin, collection: new.name, op: .config) {
                    String(decoding: try JSONEncoder.sorted.encode(new), as: UTF8.self)
                }
            }
        }
        setConfig(new)
        for f in fields { attributes.add(f) }
        generation &+= 1
        return new
    }

    /// For a dynamic collection: the fields `records` carry that the schema lacks, typed by
    /// their values (see `FieldSchema.inferred`), after checking that values of known fields
    /// have the field's type (`BAD_TYPE` naming the field and the record). Changes nothing.
    func inferredFields(for records: [Record]) throws -> [FieldSchema] {
        var new: [String: FieldSchema] = [:], order: [String] = [], firstRecord: [String: String] = [:]
        let schema = config.schema
        for r in records {
            for name in r.attributes.keys.sorted() {
                let value = r.attributes[name]!
                if let f = schema.field(name) ?? new[name] {
                    if f.accepts(value) { continue }
                    // A field this batch introduces widens: int to float, string to text.
                    if schema.field(name) == nil, let wider = FieldSchema.inferred(name, from: value),
                       (f.type, wider.type) == (.int, .float) || (f.type, wider.type) == (.string, .text) {
                        new[name] = wider
                        continue
                    }
                    let source = schema.field(name) != nil ? "is \(f.type.rawValue)" : "is \(f.type.rawValue) (from record '\(firstRecord[name]!)')"
                    throw StoreError(.badType, "record '\(r.id)': field '\(name)' \(source), got \(value.shapeName)")
                }
                guard let f = FieldSchema.inferred(name, from: value) else { continue }
                if let other = (schema.fields.map(\.name) + order).first(where: { $0.lowercased() == name.lowercased() }) {
                    throw StoreError(.badRecord, "record '\(r.id)': field '\(name)' differs from field '\(other)' only in case")
                }
                do { try CollectionSchema(fields: [f]).validate() } catch let e as StoreError {
                    throw StoreError(.badRecord, "record '\(r.id)': cannot add field: \(e.message)")
                }
                new[name] = f
                order.append(name)
                firstRecord[name] = r.id
            }
        }
        return order.compactMap { new[$0] }
    }

    /// Adds inferred fields another writer has not added meanwhile.
    func addInferred(_ fields: [FieldSchema], origin: WriteOrigin) throws {
        try lock.write {
            try checkOpen()
            let fresh = fields.filter { config.schema.field($0.name) == nil }
            if !fresh.isEmpty { _ = try grow(by: fresh, dynamic: nil, origin: origin) }
        }
    }
}

extension FieldSchema {
    /// The type a first value implies: a string is `string` (filterable) unless it is long
    /// prose (over 64 characters, or with a line break), which is `text`; an integer `int`, any
    /// other number `float`; true or false `bool`; a list of strings a `set`; an object of
    /// lists a `tiered_set` with its keys as tiers.
    static func inferred(_ name: String, from value: AttributeValue) -> FieldSchema? {
        switch value {
        case .string(let s): return FieldSchema(name, s.count > 64 || s.contains(where: \.isNewline) ? .text : .string)
        case .int: return FieldSchema(name, .int)
        case .float: return FieldSchema(name, .float)
        case .bool: return FieldSchema(name, .bool)
        case .strings: return FieldSchema(name, .set)
        case .tiered(let t): return t.isEmpty ? nil : FieldSchema(name, .tieredSet, tiers: t.keys.sorted())
        }
    }

    /// Whether a value of this shape fits the field (as the schema's normaliser takes it).
    func accepts(_ value: AttributeValue) -> Bool {
        switch (type, value) {
        case (.string, .string), (.text, .string), (.int, .int), (.float, .int), (.float, .float),
             (.set, .strings), (.set, .string), (.tieredSet, .tiered), (.bool, .bool): return true
        case (.int, .float(let d)): return d.rounded() == d
        default: return false
        }
    }
}

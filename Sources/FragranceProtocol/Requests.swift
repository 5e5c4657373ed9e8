/// A request a client sends, typed, and the one line the grammar reads it from. Clients build
/// their lines here rather than by hand, so an argument's quoting and the order of keywords
/// (VECTOR last) are written once, beside the grammar that reads them (`SearchOptions`).
/// Every case names a command of `CommandTable` (a test checks each line against it).
public enum Request: Sendable, Equatable {
    case ping
    case auth(token: String)
    case info(section: String? = nil)
    case collections
    case describe(collection: String)
    /// `definition`: the JSON object of CREATE (schemas/protocol.md).
    case create(collection: String, definition: String)
    /// `change`: ALTER's JSON object, e.g. `{"fields": [{"name": "price", "type": "float"}]}`.
    case alter(collection: String, change: String)
    case drop(collection: String)
    /// `json`: one record object or an array of them.
    case upsert(collection: String, json: String)
    case get(collection: String, id: String)
    case exists(collection: String, ids: [String])
    case delete(collection: String, ids: [String])
    case count(collection: String, filter: String?)
    case search(collection: String, options: SearchOptions)
    /// VECTORS (packed in the binary form), FILTER, K, EF, EXACT of `options`.
    case multiSearch(collection: String, options: SearchOptions)
    case query(collection: String, text: String, options: SearchOptions)
    /// Browse: FILTER, ORDER, AFTER, LIMIT, FIELDS, FACETS, FACET_SIZE of `options`.
    case scroll(collection: String, options: SearchOptions)
    /// `fields`: `family`, `year:10` (ranges ten wide); FILTER and FACET_SIZE of `options`.
    case facets(collection: String, fields: [String], options: SearchOptions)
    /// `json`: the request object of GENERATE or the recipe of VALIDATE.
    case generate(json: String)
    case validate(json: String)
    case snapshot(collection: String)
    case restore(file: String, as: String?)
    /// SLOWLOG GET n (nil: LEN) — RESET is `slowlogReset`.
    case slowlog(count: Int?)
    case slowlogReset
    case clientList

    /// The command this request runs.
    public var command: String {
        switch self {
        case .ping: "PING"
        case .auth: "AUTH"
        case .info: "INFO"
        case .collections: "COLLECTIONS"
        case .describe: "DESCRIBE"
        case .create: "CREATE"
        case .alter: "ALTER"
        case .drop: "DROP"
        case .upsert: "UPSERT"
        case .get: "GET"
        case .exists: "EXISTS"
        case .delete: "DEL"
        case .count: "COUNT"
        case .search: "SEARCH"
        case .multiSearch: "MSEARCH"
        case .query: "QUERY"
        case .scroll: "SCROLL"
        case .facets: "FACETS"
        case .generate: "GENERATE"
        case .validate: "VALIDATE"
        case .snapshot: "SNAPSHOT"
        case .restore: "RESTORE"
        case .slowlog, .slowlogReset: "SLOWLOG"
        case .clientList: "CLIENT"
        }
    }

    /// The request line, without its line ending. Names (collections) are words; ids, texts,
    /// tokens and filters are quoted, so spaces and quotes in them survive.
    public var line: String {
        let q = Token.quote
        let arguments: [String]
        switch self {
        case .ping, .collections: arguments = []
        case .info(let section): arguments = section.map { [$0] } ?? []
        case .slowlog(let count): arguments = count.map { ["GET", String($0)] } ?? ["LEN"]
        case .slowlogReset: arguments = ["RESET"]
        case .clientList: arguments = ["LIST"]
        case .auth(let token): arguments = [q(token)]
        case .describe(let c), .drop(let c), .snapshot(let c): arguments = [c]
        case .create(let c, let definition), .alter(let c, let definition): arguments = [c, definition]
        case .upsert(let c, let json): arguments = [c, json]
        case .get(let c, let id): arguments = [c, q(id)]
        case .exists(let c, let ids), .delete(let c, let ids): arguments = [c] + ids.map(q)
        case .count(let c, let filter): arguments = [c] + (filter.map { ["FILTER", q($0)] } ?? [])
        case .search(let c, let options), .multiSearch(let c, let options): arguments = [c, options.words(quote: q)]
        case .query(let c, let text, let options): arguments = [c, q(text), options.words(quote: q)]
        case .scroll(let c, let options): arguments = [c, options.words(quote: q)]
        case .facets(let c, let fields, let options): arguments = [c, q(fields.joined(separator: ",")), options.words(quote: q)]
        case .generate(let json), .validate(let json): arguments = [json]
        case .restore(let file, let name): arguments = [q(file)] + (name.map { ["AS", $0] } ?? [])
        }
        return ([command] + arguments.filter { !$0.isEmpty }).joined(separator: " ")
    }
}

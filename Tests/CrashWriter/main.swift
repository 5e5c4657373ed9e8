import TestSupport
// Child process for the crash test: writes batches into a data directory and prints each
// acknowledged write, one line per commit, until it is killed.
//   crash-writer <data-dir> <seed>
// Lines: "U id id …" after an upsert commits; "d id" before a delete starts and "D id" after
// it commits (a kill between the two leaves that id's fate open).
import Foundation
import FragranceStore

let args = CommandLine.arguments
guard args.count == 3, let seed = UInt64(args[2]) else {
    FileHandle.standardError.write(Data("usage: crash-writer <data-dir> <seed>\n".utf8))
    exit(2)
}

/// The vector a test expects for an id, derived from the id alone.
func vector(for id: String) -> [Float] {
    var h: UInt64 = 1469598103934665603
    for b in id.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
    return (0..<8).map { i in Float((h >> UInt64(i * 7)) & 0x7F) / 64 - 1 + Float(i) * 0.01 }
}

var options = Database.Options()
options.checkpointEvery = 40       // index files get rewritten often, so kills land mid-write too
options.compactionMinDeleted = 30
let db = try Database(directory: URL(fileURLWithPath: args[1]), options: options)
let schema = CollectionSchema(fields: [FieldSchema("round", .int), FieldSchema("tags", .set)])
let c = try (try? db.collection("c")) ?? db.createCollection(CollectionConfig(name: "c", dimension: 8, schema: schema))
var rng = SplitMix(seed)
let out = FileHandle.standardOutput
var n = 0
var written: [String] = []
while true {
    let size = Int(rng.next() % 20) + 1
    let ids = (0..<size).map { i in "s\(seed)-\(n)-\(i)" }
    n += 1
    try c.upsert(ids.map { Record(id: $0, vector: vector(for: $0), attributes: ["round": .int(Int64(seed)), "tags": .strings(["t\(rng.next() % 5)"])]) })
    out.write(Data(("U " + ids.joined(separator: " ") + "\n").utf8))
    written += ids
    if rng.next() % 4 == 0, let victim = written.randomElement() {
        out.write(Data("d \(victim)\n".utf8))
        try c.delete([victim])
        out.write(Data("D \(victim)\n".utf8))
    }
}

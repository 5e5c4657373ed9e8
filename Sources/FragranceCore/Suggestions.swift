/// "Did you mean": the name among `names` closest to a mistyped one, by edit distance (case
/// ignored), when it is close enough to be the likely intent — at most a third of the
/// longer name's letters apart, and a plural or prefix counts as close.
public func closestName(_ name: String, among names: [String]) -> String? {
    let typed = Array(name.lowercased())
    guard !typed.isEmpty else { return nil }
    var best: (name: String, distance: Int)?
    for candidate in names where candidate != name {
        let c = Array(candidate.lowercased())
        let d = editDistance(typed, c)
        let limit = max(1, max(typed.count, c.count) / 3)
        guard d <= limit else { continue }
        if best == nil || d < best!.distance { best = (candidate, d) }
    }
    return best?.name
}

/// Edit distance counting a swap of two neighbouring letters as one edit (optimal string
/// alignment): "Yaer" is one from "Year", as a person would count it.
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
        }
    }
    return d[a.count][b.count]
}

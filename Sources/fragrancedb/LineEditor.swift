import Foundation

/// A small line editor for the interactive shell: raw terminal mode, ←/→, Home/End,
/// backspace, ↑/↓ through history, Tab to complete the current word, Ctrl-D to leave, Ctrl-C
/// to drop the line. (No readline/libedit dependency: neither is a Debian package we require.)
final class LineEditor {
    private var history: [String] = []
    /// The first word completes from the commands; later words from the keywords and collections
    /// (so a keyword such as COLLAPSE never makes COLL<Tab> ambiguous).
    private let commands: [String]
    private let words: [String]

    init(commands: [String], words: [String]) {
        self.commands = commands
        self.words = words
    }

    func read(prompt: String) -> String? {
        guard isatty(STDIN_FILENO) != 0 else {
            print(prompt, terminator: "")
            fflush(nil)
            return readLine()
        }
        var original = termios()
        tcgetattr(STDIN_FILENO, &original)
        var raw = original
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)   // NOW, not FLUSH: keep type-ahead
        defer { tcsetattr(STDIN_FILENO, TCSANOW, &original) }

        var buffer: [Character] = []
        var cursor = 0
        var recall = history.count
        func redraw() {
            let text = String(buffer)
            write("\r\u{1B}[K\(prompt)\(text)")
            let back = buffer.count - cursor
            if back > 0 { write("\u{1B}[\(back)D") }
        }
        redraw()
        while true {
            guard let byte = readByte() else { return nil }
            switch byte {
            case 0x0D, 0x0A:   // Enter
                write("\r\n")
                let line = String(buffer)
                if !line.trimmingCharacters(in: .whitespaces).isEmpty && history.last != line { history.append(line) }
                return line
            case 0x04:         // Ctrl-D
                if buffer.isEmpty { write("\r\n"); return nil }
            case 0x03:         // Ctrl-C
                write("^C\r\n")
                buffer = []; cursor = 0
            case 0x7F, 0x08:   // Backspace
                if cursor > 0 { buffer.remove(at: cursor - 1); cursor -= 1 }
            case 0x09:         // Tab
                let start = buffer[..<cursor].lastIndex(of: " ").map { $0 + 1 } ?? 0
                let word = String(buffer[start..<cursor])
                let first = buffer[..<start].allSatisfy { $0 == " " }
                let matches = (first ? commands : words).filter { $0.lowercased().hasPrefix(word.lowercased()) }
                if matches.count == 1 {
                    let rest = Array(matches[0].dropFirst(word.count)) + [" "]
                    buffer.insert(contentsOf: rest, at: cursor)
                    cursor += rest.count
                } else if matches.count > 1 {
                    write("\r\n" + matches.joined(separator: "  ") + "\r\n")
                }
            case 0x01: cursor = 0                 // Ctrl-A
            case 0x05: cursor = buffer.count      // Ctrl-E
            case 0x1B:         // escape sequences: arrows, Home, End
                guard readByte() == 0x5B, let key = readByte() else { break }
                switch key {
                case 0x41 where recall > 0:                         // ↑
                    recall -= 1; buffer = Array(history[recall]); cursor = buffer.count
                case 0x42 where recall < history.count:             // ↓
                    recall += 1
                    buffer = recall < history.count ? Array(history[recall]) : []
                    cursor = buffer.count
                case 0x43 where cursor < buffer.count: cursor += 1   // →
                case 0x44 where cursor > 0: cursor -= 1              // ←
                case 0x48: cursor = 0                                // Home
                case 0x46: cursor = buffer.count                     // End
                default: break
                }
            default:
                if byte >= 0x20 {
                    buffer.insert(Character(Unicode.Scalar(readUTF8(first: byte)) ?? "?"), at: cursor)
                    cursor += 1
                }
            }
            redraw()
        }
    }

    private func readByte() -> UInt8? {
        var b: UInt8 = 0
        return Foundation.read(STDIN_FILENO, &b, 1) == 1 ? b : nil
    }

    /// The rest of a UTF-8 sequence whose first byte was read.
    private func readUTF8(first: UInt8) -> UInt32 {
        let extra = first >= 0xF0 ? 3 : first >= 0xE0 ? 2 : first >= 0xC0 ? 1 : 0
        var value = UInt32(extra == 0 ? first : first & (0x3F >> UInt8(extra)))
        for _ in 0..<extra { value = value << 6 | UInt32((readByte() ?? 0x80) & 0x3F) }
        return value
    }

    private func write(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}

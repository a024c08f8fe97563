using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace HepDb.Engines;

/// <summary>
/// Runs one of an engine's command-line tools (<c>mariadb-dump</c>, <c>mariadb</c>, <c>pg_dump</c>, <c>pg_restore</c>)
/// for <see cref="IEngineDumps"/>: no shell (arguments go one by one), credentials only in a 0600 file inside a private
/// (0700) temporary folder that is removed when the tool has ended, a child environment reduced to a few harmless
/// variables (so nothing secret the host process was given reaches the tool), stdin and stdout streamed asynchronously
/// with a large buffer, and the last 2 KB of stderr kept for the error message.
/// </summary>
internal static class DumpTool
{
    private const int BufferSize = 1 << 20;
    private const int StderrTail = 2048;

    /// <summary>The host variables a tool may see; everything else (including anything that holds a secret) is dropped.</summary>
    private static readonly string[] InheritedVariables = ["PATH", "HOME", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"];

    /// <summary>
    /// Writes <paramref name="credentials"/> to a 0600 file, starts <paramref name="tool"/> with the arguments and
    /// environment made from that file's path, pipes <paramref name="input"/> (if any) into it and its stdout into
    /// <paramref name="output"/> (if any), and waits for it. A non-zero exit throws <see cref="EngineUnavailableException"/>
    /// when the tool could not reach the server, otherwise <see cref="EngineCommandException"/> with code
    /// <c>tool-exit-N</c>; <paramref name="secret"/> is blanked out of any message. Cancellation kills the tool.
    /// </summary>
    public static async Task RunAsync(EngineKind kind, string tool, string credentials, Func<string, IEnumerable<string>> arguments,
        Func<string, IReadOnlyDictionary<string, string>>? environment, string? secret, Stream? input, Stream? output, CancellationToken ct)
    {
        var name = Path.GetFileName(tool);
        var dir = Directory.CreateTempSubdirectory("hepdb-tool-"); // mkdtemp: 0700, a fresh name
        try
        {
            var file = Path.Combine(dir.FullName, "credentials");
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            await using (var f = new FileStream(file, options))
                await f.WriteAsync(Encoding.UTF8.GetBytes(credentials), ct);

            var psi = new ProcessStartInfo(tool)
            {
                UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
                StandardErrorEncoding = Encoding.UTF8,
            };
            foreach (var a in arguments(file)) psi.ArgumentList.Add(a);
            psi.Environment.Clear();
            foreach (var v in InheritedVariables)
                if (Environment.GetEnvironmentVariable(v) is { } value) psi.Environment[v] = value;
            psi.Environment["LC_ALL"] = "C.UTF-8"; // English messages (the unreachable check reads them), UTF-8 text
            foreach (var (k, v) in environment?.Invoke(file) ?? new Dictionary<string, string>()) psi.Environment[k] = v;

            Process p;
            try
            {
                p = Process.Start(psi) ?? throw new EngineCommandException(kind, "tool-missing", $"{name} could not be started.");
            }
            catch (Win32Exception e)
            {
                throw new EngineCommandException(kind, "tool-missing", $"{name} could not be started: {e.Message}", e);
            }
            using (p)
            {
                var stderr = ReadTailAsync(p.StandardError);
                await using var killOnCancel = ct.Register(() => Kill(p));
                int exit;
                var stoppedReading = false;
                try
                {
                    var pumpIn = input is null ? CloseAsync(p.StandardInput) : PumpInAsync(input, p.StandardInput, ct);
                    var pumpOut = p.StandardOutput.BaseStream.CopyToAsync(output ?? Stream.Null, BufferSize, ct);
                    // Either pump failing (the caller's stream, or cancellation) kills the tool, which ends the other.
                    var first = await Task.WhenAny(pumpIn, pumpOut);
                    if (first.IsFaulted || first.IsCanceled) Kill(p);
                    stoppedReading = await pumpIn;
                    await pumpOut;
                    await p.WaitForExitAsync(ct);
                    exit = p.ExitCode;
                }
                catch
                {
                    Kill(p);
                    throw;
                }
                var error = Scrub(await stderr, secret);
                if (exit == 0 && !stoppedReading) return;
                if (exit == 0) throw new EngineCommandException(kind, "tool-input", $"{name} stopped reading its input before the end. {error}".TrimEnd());
                if (LooksUnreachable(error)) throw new EngineUnavailableException(kind, $"{name}: {error}");
                throw new EngineCommandException(kind, $"tool-exit-{exit}", error.Length > 0 ? error : $"{name} exited with code {exit}.");
            }
        }
        finally
        {
            try { dir.Delete(recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>"key=value" pairs of a MariaDB option file, quoted so that '#', quotes and spaces in a value are taken
    /// literally; a backslash is written as <c>\\</c>. Values with line breaks are refused.</summary>
    public static string OptionValue(string value) =>
        value.Contains('\n', StringComparison.Ordinal) || value.Contains('\r', StringComparison.Ordinal)
            ? throw new ArgumentException("A credential with a line break cannot go in an option file.", nameof(value))
            : "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal) + "\"";

    /// <summary>One field of a PostgreSQL passfile line: ':' and '\' are escaped with a backslash.</summary>
    public static string PassfileField(string value) =>
        value.Contains('\n', StringComparison.Ordinal) || value.Contains('\r', StringComparison.Ordinal)
            ? throw new ArgumentException("A credential with a line break cannot go in a passfile.", nameof(value))
            : value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(":", "\\:", StringComparison.Ordinal);

    /// <summary>The newest tool of that name under /usr/lib/postgresql/N/bin (a newer pg_dump reads older servers; an
    /// older one refuses newer servers), else the one on PATH.</summary>
    public static string PostgresTool(string name)
    {
        const string root = "/usr/lib/postgresql";
        var newest = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "bin", name)))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin", name))
                .FirstOrDefault()
            : null;
        return newest ?? name;
    }

    private static bool LooksUnreachable(string error) =>
        error.Contains("Can't connect", StringComparison.OrdinalIgnoreCase)
        || error.Contains("could not connect", StringComparison.OrdinalIgnoreCase)
        || error.Contains("Connection refused", StringComparison.OrdinalIgnoreCase)
        || error.Contains("Lost connection to server", StringComparison.OrdinalIgnoreCase)
        || error.Contains("server closed the connection unexpectedly", StringComparison.OrdinalIgnoreCase)
        || error.Contains("timeout expired", StringComparison.OrdinalIgnoreCase)
        || error.Contains("could not translate host name", StringComparison.OrdinalIgnoreCase)
        || error.Contains("No route to host", StringComparison.OrdinalIgnoreCase)
        // A refused admin login is a deployment problem, as for the adapters' own admin connections. A statement the
        // server refuses with the same message (MariaDB answers a GRANT beyond the user's rights so) names its line.
        || error.Contains("password authentication failed", StringComparison.OrdinalIgnoreCase)
        || (error.Contains("Access denied for user", StringComparison.OrdinalIgnoreCase) && error.Contains("using password", StringComparison.OrdinalIgnoreCase)
            && !error.Contains(" at line ", StringComparison.Ordinal));

    private static string Scrub(string text, string? secret) =>
        string.IsNullOrEmpty(secret) ? text : text.Replace(secret, "***", StringComparison.Ordinal);

    private static void Kill(Process p)
    {
        try { p.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // already gone
        catch (Win32Exception) { }
    }

    private static async Task<bool> CloseAsync(StreamWriter stdin)
    {
        try { await stdin.DisposeAsync(); }
        catch (IOException) { }
        return false;
    }

    /// <summary>Copies the caller's stream into the tool. Failures reading the caller's stream propagate (the tool is then
    /// killed, so it never commits a truncated input); a failed write means the tool stopped reading (it exited, and its
    /// exit code and stderr tell why), reported as true.</summary>
    private static async Task<bool> PumpInAsync(Stream input, StreamWriter stdin, CancellationToken ct)
    {
        var target = stdin.BaseStream;
        var buffer = new byte[BufferSize];
        try
        {
            int n;
            while ((n = await input.ReadAsync(buffer, ct)) > 0)
            {
                try { await target.WriteAsync(buffer.AsMemory(0, n), ct); }
                catch (IOException) { return true; }
            }
            try { await target.FlushAsync(ct); }
            catch (IOException) { return true; }
            return false;
        }
        finally
        {
            try { await stdin.DisposeAsync(); }
            catch (IOException) { }
        }
    }

    /// <summary>Reads stderr to the end, keeping only its last <see cref="StderrTail"/> characters.</summary>
    private static async Task<string> ReadTailAsync(StreamReader reader)
    {
        var tail = new StringBuilder();
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0)
        {
            tail.Append(buffer, 0, n);
            if (tail.Length > 4 * StderrTail) tail.Remove(0, tail.Length - StderrTail);
        }
        if (tail.Length > StderrTail) tail.Remove(0, tail.Length - StderrTail);
        return tail.ToString().Trim();
    }
}

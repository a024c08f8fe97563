using System.Diagnostics;

namespace HepDb.Tests.Infrastructure;

public sealed record ClientResult(int ExitCode, string Output, string Error)
{
    public bool Ok => ExitCode == 0;
    public override string ToString() => $"exit {ExitCode}; stdout: {Output.Trim()}; stderr: {Error.Trim()}";
}

/// <summary>The real command-line clients users connect with: <c>psql</c> and <c>mariadb</c>.</summary>
public static class Clients
{
    /// <summary>Runs SQL with psql given exactly a <c>postgresql://</c> connection string.</summary>
    public static Task<ClientResult> PsqlAsync(string connectionString, string sql) =>
        RunAsync("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", connectionString, "-c", sql], null);

    /// <summary>Runs SQL with the mariadb client using the parts of a <c>mysql://</c> connection string, as a user would:
    /// <c>ssl-mode=REQUIRED</c> in it becomes <c>--ssl</c>. The password goes through MYSQL_PWD so it is not on a command
    /// line. <paramref name="options"/> go before the rest (e.g. <c>--skip-ssl</c>, <c>--ssl-verify-server-cert</c>).</summary>
    public static Task<ClientResult> MariaDbAsync(string connectionString, string sql, params string[] options)
    {
        var uri = new Uri(connectionString);
        var userInfo = uri.UserInfo.Split(':', 2);
        var db = uri.AbsolutePath.TrimStart('/');
        var tls = uri.Query.Contains("ssl-mode=REQUIRED", StringComparison.Ordinal) && options.Length == 0 ? new[] { "--ssl" } : [];
        return RunAsync("mariadb", ["--no-defaults", .. options, .. tls, "--batch", "--skip-column-names", "-h", uri.Host, "-P", uri.Port.ToString(),
            "-u", Uri.UnescapeDataString(userInfo[0]), .. db.Length > 0 ? new[] { "-D", db } : [], "-e", sql],
            new() { ["MYSQL_PWD"] = Uri.UnescapeDataString(userInfo[1]) });
    }

    /// <summary>Runs SQL with the engine's client for a connection string of either scheme.</summary>
    public static Task<ClientResult> SqlAsync(string connectionString, string sql) =>
        connectionString.StartsWith("mysql://", StringComparison.Ordinal) ? MariaDbAsync(connectionString, sql) : PsqlAsync(connectionString, sql);

    /// <summary>The same connection string pointed at another database.</summary>
    public static string WithDatabase(string connectionString, string database)
    {
        var b = new UriBuilder(connectionString) { Path = "/" + database };
        return b.Uri.ToString();
    }

    /// <summary>The same connection string with another password.</summary>
    public static string WithPassword(string connectionString, string password)
    {
        var b = new UriBuilder(connectionString) { Password = password };
        return b.Uri.ToString();
    }

    public static async Task<ClientResult> RunAsync(string file, IEnumerable<string> args, Dictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PGCONNECT_TIMEOUT"] = "5";
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return new ClientResult(p.ExitCode, await stdout, await stderr);
    }
}

extern alias cli;

using HepDb.Tests.Infrastructure;
using AdminTool = cli::HepDb.Cli.AdminTool;

namespace HepDb.Tests.Operator;

/// <summary><c>hepdb-admin</c> on a <see cref="HepDbApp"/>'s data folder and engine servers: through its entry point in
/// this process, or the settings a process of it is given.</summary>
internal static class OperatorTool
{
    /// <summary>The server's settings as the tool sees them: its data folder and the engine servers.</summary>
    public static Dictionary<string, string?> Settings(HepDbApp app) =>
        new(app.Engines.Settings()) { ["HepDb:DataDir"] = app.DataDir };

    /// <summary>The same settings as <c>HepDb__*</c>-style environment variables, for a process, with warnings only.</summary>
    public static Dictionary<string, string> Environment(HepDbApp app)
    {
        var env = new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" };
        foreach (var (k, v) in Settings(app)) env[k.Replace(":", "__", StringComparison.Ordinal)] = v!;
        return env;
    }

    /// <summary>Runs a command through the tool's entry point in this process.</summary>
    public static async Task<ClientResult> RunAsync(HepDbApp app, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await AdminTool.RunAsync(args, output, error, TextReader.Null, Settings(app));
        return new ClientResult(exit, output.ToString(), error.ToString());
    }
}

extern alias cli;

using System.Text;
using HepDb.Api;
using HepDb.Engines;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using AdminTool = cli::HepDb.Cli.AdminTool;

namespace HepDb.Tests.Operator;

/// <summary><c>hepdb-admin server …</c> on a live server's store, with the second real engine servers
/// (<see cref="SecondServers"/>) added as servers named <c>b</c>. Each test has a HepDb of its own, so its fleet is its own.</summary>
public sealed class ServerCommandTests(EngineServers engines, SecondServers second)
{
    [Fact]
    public async Task Add_checks_the_credentials_lists_the_server_with_its_capacity_and_keeps_the_password_sealed()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        var password = second.AdminPassword("mariadb");
        var port = second.Engines.MariaDb.Port;
        var outputs = new List<ClientResult>();

        var wrong = await RunAsync(app, "not-the-password", second.AddArguments("mariadb", "b", 5));
        outputs.Add(wrong);
        Assert.Equal(AdminTool.Refused, wrong.ExitCode);
        Assert.Equal("", wrong.Output);
        Assert.StartsWith("hepdb-admin: ", wrong.Error, StringComparison.Ordinal);
        Assert.Equal(0, await app.WithDbAsync(d => d.EngineServers.CountAsync(s => s.Id == "mariadb/b")));
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "server.added")));

        var added = await RunAsync(app, password, second.AddArguments("mariadb", "b", 5));
        outputs.Add(added);
        Assert.True(added.ExitCode == 0, added.ToString());
        Assert.Equal("mariadb/b", added.Output.Trim());
        Assert.Equal(1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "server.added" && a.TargetId == "mariadb/b")));
        var again = await RunAsync(app, password, second.AddArguments("mariadb", "b", 5));
        outputs.Add(again);
        Assert.Equal(AdminTool.Refused, again.ExitCode); // one name once

        var list = await RunAsync(app, "", "server", "list");
        outputs.Add(list);
        Assert.True(list.ExitCode == 0, list.ToString());
        var lines = Lines(list);
        Assert.Contains(lines, l => l.StartsWith("mariadb\tdefault\tactive\t", StringComparison.Ordinal) && l.EndsWith("\tup", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("postgres\tdefault\tactive\t", StringComparison.Ordinal));
        Assert.Contains($"mariadb\tb\tactive\t127.0.0.1:{port}\t0\t0\tmax 5 databases\tup", lines);
        Assert.All(lines, l => Assert.Equal(8, l.Split('\t').Length));

        var set = await RunAsync(app, "", "server", "set", "b", "--max-bytes", "10737418240", "--max-databases", "100");
        outputs.Add(set);
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Equal("mariadb/b", set.Output.Trim());
        Assert.Contains($"mariadb\tb\tactive\t127.0.0.1:{port}\t0\t0\tmax 100 databases, 10737418240 bytes\tup", Lines(await RunAsync(app, "", "server", "list")));

        var badState = await RunAsync(app, "", "server", "set", "b", "--state", "paused");
        outputs.Add(badState);
        Assert.Equal(AdminTool.Refused, badState.ExitCode);
        Assert.Equal("", badState.Output);
        Assert.Contains("paused", badState.Error);
        Assert.Equal(HepDb.Fleet.ServerState.Active, await app.WithDbAsync(d => d.EngineServers.Where(s => s.Id == "mariadb/b").Select(s => s.State).SingleAsync()));

        // A new admin password, from stdin only; a wrong one is refused and the stored one stays.
        var badPassword = await RunAsync(app, "still-not-it", "server", "set", "mariadb/b", "--admin-password-stdin");
        outputs.Add(badPassword);
        Assert.Equal(AdminTool.Refused, badPassword.ExitCode);
        var rePassword = await RunAsync(app, password, "server", "set", "mariadb/b", "--admin-password-stdin");
        outputs.Add(rePassword);
        Assert.True(rePassword.ExitCode == 0, rePassword.ToString());

        // "default" names a server of each engine: which one must be said.
        var ambiguous = await RunAsync(app, "", "server", "drain", "default");
        Assert.Equal(AdminTool.Refused, ambiguous.ExitCode);
        Assert.Contains("--engine", ambiguous.Error);

        // The password is nowhere in clear: not in what the tool printed, the server's log, the audit log or the store's files.
        var sealedPassword = await app.WithDbAsync(d => d.EngineServers.Where(s => s.Id == "mariadb/b").Select(s => s.AdminPasswordSealed).SingleAsync());
        Assert.NotNull(sealedPassword);
        Assert.DoesNotContain(password, sealedPassword);
        foreach (var o in outputs)
        {
            Assert.DoesNotContain(password, o.Output);
            Assert.DoesNotContain(password, o.Error);
        }
        Assert.DoesNotContain(password, app.Log.Text);
        Assert.DoesNotContain(await app.WithDbAsync(d => d.AuditLog.Select(a => a.Detail ?? "").ToListAsync()), detail => detail.Contains(password, StringComparison.Ordinal));
        var storeFiles = Directory.GetFiles(app.DataDir, "hepdb.db*");
        Assert.NotEmpty(storeFiles);
        foreach (var file in storeFiles)
            Assert.DoesNotContain(password, Encoding.Latin1.GetString(await ReadSharedAsync(file)));
    }

    [Fact]
    public async Task Drain_keeps_creates_off_a_server_remove_waits_for_it_to_be_empty_and_move_keeps_the_database_working()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync(HepDb.Accounts.Tier.Admin); // room for several databases
        Assert.Equal("postgres/b", (await RunAsync(app, second.AdminPassword("postgres"), second.AddArguments("postgres", "b", 5))).Output.Trim());
        await AppKnowsAsync(app, "postgres/b");

        var drained = await RunAsync(app, "", "server", "drain", "b");
        Assert.True(drained.ExitCode == 0, drained.ToString());
        Assert.Equal("postgres/b draining", drained.Output.Trim());
        // Empty, b would win the tie with default by name: drained, it takes nothing.
        var first = await app.CreateDatabaseAsync(account, "postgres", "first");
        Assert.Equal("postgres/default", await ServerOfAsync(app, first.Id));

        var undrained = await RunAsync(app, "", "server", "undrain", "b", "--engine", "postgres");
        Assert.Equal("postgres/b active", undrained.Output.Trim());
        var moving = await app.CreateDatabaseAsync(account, "postgres", "moving");
        Assert.Equal("postgres/b", await ServerOfAsync(app, moving.Id));
        Assert.Equal(second.Engines.Postgres.Port, moving.Port);
        await Tenant.ProveWorksAsync(moving.ConnectionString, "made on b");

        var inUse = await RunAsync(app, "", "server", "remove", "b");
        Assert.Equal(AdminTool.Refused, inUse.ExitCode);
        Assert.Equal($"hepdb-admin: {ApiErrors.ServerInUse("postgres/b", 1).Message}", inUse.Error.Trim());
        Assert.Equal(1, await app.WithDbAsync(d => d.EngineServers.CountAsync(s => s.Id == "postgres/b")));

        var unknown = await RunAsync(app, "", "server", "move", "--database", moving.Id, "--to", "nowhere");
        Assert.Equal(AdminTool.Refused, unknown.ExitCode);
        Assert.Equal($"hepdb-admin: {ApiErrors.ServerNotFound("nowhere").Message}", unknown.Error.Trim());

        var moved = await RunAsync(app, "", "server", "move", "--database", moving.Id, "--to", "default");
        Assert.True(moved.ExitCode == 0, moved.ToString());
        Assert.Equal($"{moving.Id} moved postgres/b -> postgres/default", moved.Output.Trim());
        Assert.Equal("postgres/default", await ServerOfAsync(app, moving.Id));
        Assert.Equal(1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "database.moved" && a.TargetId == moving.Id && a.Detail == "postgres/b -> postgres/default")));
        // Same name, user and password, its data along: only the host and port of its connection string changed.
        var access = await Shape.SuccessAsync(await account.Api.GetAsync(Paths.Database(moving.Id)), System.Net.HttpStatusCode.OK);
        Assert.Equal(moving.Password, access.GetProperty("password").GetString());
        Assert.NotEqual(second.Engines.Postgres.Port, access.GetProperty("port").GetInt32());
        Assert.Contains("made on b", await Tenant.MustRunAsync(access.GetProperty("connectionString").GetString()!, "SELECT body FROM proof"));

        var removed = await RunAsync(app, "", "server", "remove", "b");
        Assert.True(removed.ExitCode == 0, removed.ToString());
        Assert.Equal("postgres/b removed", removed.Output.Trim());
        Assert.DoesNotContain(Lines(await RunAsync(app, "", "server", "list")), l => l.StartsWith("postgres\tb\t", StringComparison.Ordinal));
        Assert.Equal(0, await app.WithDbAsync(d => d.EngineServers.CountAsync(s => s.Id == "postgres/b")));
    }

    [Fact]
    public async Task Evacuate_drains_a_server_and_moves_every_database_off_it()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync(HepDb.Accounts.Tier.Admin); // room for several databases
        Assert.Equal("mariadb/b", (await RunAsync(app, second.AdminPassword("mariadb"), second.AddArguments("mariadb", "b", 5))).Output.Trim());
        await AppKnowsAsync(app, "mariadb/b");

        // With the configured server closed to new databases, both land on b.
        var closed = await RunAsync(app, "", "server", "set", "default", "--engine", "mariadb", "--state", "draining");
        Assert.True(closed.ExitCode == 0, closed.ToString());
        Assert.Equal("mariadb/default", closed.Output.Trim());
        var one = await app.CreateDatabaseAsync(account, "mariadb", "one");
        var two = await app.CreateDatabaseAsync(account, "mariadb", "two");
        Assert.Equal("mariadb/b", await ServerOfAsync(app, one.Id));
        Assert.Equal("mariadb/b", await ServerOfAsync(app, two.Id));
        await Tenant.ProveWorksAsync(one.ConnectionString, "kept through evacuation");
        Assert.Contains(Lines(await RunAsync(app, "", "server", "list")), l => l.StartsWith("mariadb\tb\tactive\t", StringComparison.Ordinal) && l.Split('\t')[4] == "2");

        // Nowhere to go: each database says so, nothing moves, exit 1; the server is drained all the same.
        var stuck = await RunAsync(app, "", "server", "evacuate", "b", "--engine", "mariadb");
        Assert.Equal(AdminTool.Refused, stuck.ExitCode);
        Assert.Equal(2, Lines(stuck).Length);
        Assert.All(Lines(stuck), l => Assert.Matches(@"^\S+\tmariadb/b\t-\tNo MariaDB server has room", l));
        Assert.Equal(2, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.ServerId == "mariadb/b")));

        Assert.Equal("mariadb/default active", (await RunAsync(app, "", "server", "undrain", "mariadb/default")).Output.Trim());

        var evacuated = await RunAsync(app, "", "server", "evacuate", "b", "--engine", "mariadb");
        Assert.True(evacuated.ExitCode == 0, evacuated.ToString());
        Assert.Equal(
            new[] { $"{one.Id}\tmariadb/b\tmariadb/default\tok", $"{two.Id}\tmariadb/b\tmariadb/default\tok" }.Order(StringComparer.Ordinal),
            Lines(evacuated).Order(StringComparer.Ordinal));
        Assert.Equal(0, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.ServerId == "mariadb/b" || x.MoveToServerId != null)));
        var b = Assert.Single(Lines(await RunAsync(app, "", "server", "list")), l => l.StartsWith("mariadb\tb\t", StringComparison.Ordinal));
        var columns = b.Split('\t');
        Assert.Equal(("draining", "0", "0"), (columns[2], columns[4], columns[5])); // drained by evacuate, and empty
        var access = await Shape.SuccessAsync(await account.Api.GetAsync(Paths.Database(one.Id)), System.Net.HttpStatusCode.OK);
        Assert.Contains("kept through evacuation", await Tenant.MustRunAsync(access.GetProperty("connectionString").GetString()!, "SELECT body FROM proof"));
        Assert.Equal(0, (await RunAsync(app, "", "server", "remove", "mariadb/b")).ExitCode);
    }

    /// <summary>Runs a command in-process with <paramref name="stdin"/> as its one line of input.</summary>
    private static async Task<ClientResult> RunAsync(HepDbApp app, string stdin, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var input = new StringReader(stdin + "\n");
        var exit = await AdminTool.RunAsync(args, output, error, input, OperatorTool.Settings(app));
        return new ClientResult(exit, output.ToString(), error.ToString());
    }

    private static string[] Lines(ClientResult run) => run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static Task<string> ServerOfAsync(HepDbApp app, string databaseId) =>
        app.WithDbAsync(d => d.Databases.Where(x => x.Id == databaseId).Select(x => x.ServerId).SingleAsync());

    /// <summary>A server added with the tool reaches the running server through its fleet refresh (every 5 s).</summary>
    private static async Task AppKnowsAsync(HepDbApp app, string serverId)
    {
        var registry = app.Services.GetRequiredService<EngineRegistry>();
        for (var waited = 0; registry.Server(serverId) is null; waited += 100)
        {
            Assert.True(waited < 15_000, $"the server did not pick up {serverId}");
            await Task.Delay(100);
        }
    }

    private static async Task<byte[]> ReadSharedAsync(string file)
    {
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}

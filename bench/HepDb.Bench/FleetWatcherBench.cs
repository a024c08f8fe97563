using System.Globalization;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Fleet;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Usage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HepDb.Bench;

/// <summary>
/// The quota watcher over a fleet (issue: "one watcher pass over 2 servers × 1,000 databases taking no longer than the
/// slower server alone + 10%"). Two private MariaDB servers, A (the configured one, <c>mariadb/default</c>) and B (added
/// with <see cref="FleetService.AddAsync"/>, <c>mariadb/b</c>), get N databases each through
/// <see cref="DatabaseService.CreateAsync"/> (placement steered by draining the other server meanwhile).
/// <para>
/// "Server alone" is measured as a deployment that has only that server: after provisioning, the metadata store is
/// copied twice, and from one copy server B and its records are removed, from the other server A's records (A itself,
/// the configured server, cannot be removed: it comes back at every start; with no records its part of a pass is one
/// connection and no query). Each store gets its own HepDb services, and the same
/// <see cref="QuotaWatcher.RunNowAsync"/> is timed on all three, alternating, against the same two engine servers.
/// Removing only the server from the registry while keeping its records would leave the "alone" passes evaluating the
/// other server's accounts too, and parking only the records would keep scanning the other server: either would make
/// "alone" cost more than a one-server deployment does, and the ratio look better than it is.
/// </para>
/// </summary>
internal sealed class FleetWatcherBench(Func<string, ServiceProvider> build, string root, EngineServerOptions serverB, BenchSettings settings)
{
    private static readonly string A = EngineServer.IdOf(EngineKind.MariaDb, EngineServer.DefaultName);
    private static readonly string B = EngineServer.IdOf(EngineKind.MariaDb, "b");
    private const double Limit = 1.10;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var n = settings.Count;
        var bothDir = Path.Combine(root, "hepdb-both");
        await using (var services = build(bothDir))
        {
            await MetadataStore.MigrateAsync(services, ct);
            await FleetSync.RegisterConfiguredAsync(services, ct); // what start-up does
            await ProvisionAsync(services, ct);
            // One pass here stores every size, so the three copies start from the same figures.
            Check(await services.GetRequiredService<QuotaWatcher>().RunNowAsync(ct), 2 * n);
        }
        SqliteConnection.ClearAllPools(); // the last close checkpoints the WAL: the file is whole before it is copied
        var aDir = Path.Combine(root, "hepdb-a");
        var bDir = Path.Combine(root, "hepdb-b");
        CopyDirectory(bothDir, aDir);
        CopyDirectory(bothDir, bDir);

        await using var both = build(bothDir);
        await using var aAlone = build(aDir);
        await using var bAlone = build(bDir);
        await using (var scope = aAlone.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            await db.Databases.Where(d => d.ServerId == B).ExecuteDeleteAsync(ct);
            await db.EngineServers.Where(s => s.Id == B).ExecuteDeleteAsync(ct);
        }
        await using (var scope = bAlone.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<HepDbContext>().Databases.Where(d => d.ServerId == A).ExecuteDeleteAsync(ct);
        var fleets = new (string Name, ServiceProvider Services, int Databases)[] { ("A alone", aAlone, n), ("B alone", bAlone, n), ("both", both, 2 * n) };
        foreach (var f in fleets) await FleetSync.RegisterConfiguredAsync(f.Services, ct);
        Console.WriteLine($"Metadata store copied: {string.Join(", ", fleets.Select(f => $"{f.Name}: {string.Join(" + ", f.Services.GetRequiredService<EngineRegistry>().Servers.Select(s => s.Id))}"))}");

        // One untimed pass each (EF's compiled queries, connection pools), then rounds in a rotating order so that none
        // of the three always follows the same one. Each round also times a pass with the usage history off (the
        // default is on): the history stores one sample per database, work that grows with the whole fleet, not with
        // its largest server, and this shows how much of a pass it is.
        foreach (var f in fleets) Check(await f.Services.GetRequiredService<QuotaWatcher>().RunNowAsync(ct), f.Databases);
        var passes = fleets.SelectMany(f => new[] { (f.Name, true), (f.Name, false) }).ToDictionary(k => k, _ => new List<ScanReport>());
        // A real watcher's passes are a minute apart; two passes of one store within the same second are one bucket of
        // the history, and the second rewrites every row of the first. Each timed pass therefore starts in a later
        // second than its store's previous one, as every pass does outside a benchmark.
        var lastSecond = fleets.ToDictionary(f => f.Name, _ => DateTime.UtcNow.Ticks / TimeSpan.TicksPerSecond);
        for (var round = 0; round < settings.Rounds; round++)
            foreach (var history in new[] { true, false })
                for (var k = 0; k < fleets.Length; k++)
                {
                    var f = fleets[(round + k) % fleets.Length];
                    f.Services.GetRequiredService<IOptions<UsageHistoryOptions>>().Value.Enabled = history;
                    while (DateTime.UtcNow.Ticks / TimeSpan.TicksPerSecond <= lastSecond[f.Name]) await Task.Delay(20, ct);
                    passes[(f.Name, history)].Add(Check(await f.Services.GetRequiredService<QuotaWatcher>().RunNowAsync(ct), f.Databases));
                    lastSecond[f.Name] = DateTime.UtcNow.Ticks / TimeSpan.TicksPerSecond;
                }

        double Median(string fleet, bool history = true) => Stats.Median(passes[(fleet, history)].Select(p => p.Milliseconds));
        string ScanMs(string fleet, string server) =>
            passes[(fleet, true)][0].Servers.Any(s => s.Server == server && s.Databases > 0)
                ? Stats.Median(passes[(fleet, true)].Select(p => p.Servers.Single(s => s.Server == server).Milliseconds)).ToString("0.0", CultureInfo.InvariantCulture)
                : "-";
        var a = Median("A alone");
        var b = Median("B alone");
        var all = Median("both");
        var ratio = all / Math.Max(a, b);
        var offRatio = Median("both", false) / Math.Max(Median("A alone", false), Median("B alone", false));
        Console.WriteLine();
        Console.WriteLine($"Quota watcher pass (QuotaWatcher.RunNowAsync: every server scanned in parallel, usage samples stored, every account evaluated), " +
                          $"SQLite metadata, median of {settings.Rounds}:");
        Console.WriteLine($"  {"fleet",-8} {"databases",9} {"pass ms",9} {"(A scan ms)",12} {"(B scan ms)",12} {"min..max pass ms",18} {"history off: pass ms",21}");
        foreach (var f in fleets)
            Console.WriteLine($"  {f.Name,-8} {f.Databases,9} {Median(f.Name),9:0.0} {"(" + ScanMs(f.Name, A) + ")",12} {"(" + ScanMs(f.Name, B) + ")",12} " +
                              $"{passes[(f.Name, true)].Min(p => p.Milliseconds),8:0.0}..{passes[(f.Name, true)].Max(p => p.Milliseconds),-8:0.0} {Median(f.Name, false),21:0.0}");
        Console.WriteLine($"  both / max(A alone, B alone) = {all:0.0} / {Math.Max(a, b):0.0} = {ratio:0.00}x   {(ratio <= Limit ? "PASS" : "FAIL")} (limit {Limit:0.00}x)");
        Console.WriteLine($"  for scale: A alone + B alone = {a + b:0.0} ms (both scanned one after the other); both / (A + B) = {all / (a + b):0.00}x");
        Console.WriteLine($"  with the usage history off (not the default; for where the time goes): both / max(A alone, B alone) = {offRatio:0.00}x");
        Console.WriteLine("  (A scan ms) and (B scan ms): each server's own part of a pass with history on (its records, its engine query, its sizes");
        Console.WriteLine("  stored), from ScanReport; the rest of a pass is the usage samples and evaluating every account, over the whole store.");
        return ratio <= Limit ? 0 : 1;
    }

    /// <summary>A pass in which every server answered and every database of the fleet was measured.</summary>
    private static ScanReport Check(ScanReport report, int databases)
    {
        if (report.Servers.Any(s => !s.Ok) || report.Servers.Sum(s => s.Databases) != databases)
            throw new InvalidOperationException($"watcher pass did not measure {databases} databases: {report.Summary()}");
        return report;
    }

    /// <summary>N databases on A, then N on B, through <see cref="DatabaseService.CreateAsync"/>; the server that should
    /// not get them is drained meanwhile (placement skips it), the way an operator steers new databases.</summary>
    private async Task ProvisionAsync(ServiceProvider services, CancellationToken ct)
    {
        var n = settings.Count;
        var perAccount = services.GetRequiredService<IOptions<TiersOptions>>().Value.Admin.Databases;
        var accounts = new List<string>();
        var started = DateTime.UtcNow;
        await using (var scope = services.CreateAsyncScope())
        {
            var accountService = scope.ServiceProvider.GetRequiredService<AccountService>();
            for (var i = 0; i < (2 * n + perAccount - 1) / perAccount; i++)
                accounts.Add((await accountService.CreateAsync($"fleet-{i}@bench.invalid", Tier.Admin.WireName(), Actor.Operator, ct)).Value!.Id);
            var fleet = scope.ServiceProvider.GetRequiredService<FleetService>();
            var added = await fleet.AddAsync("mariadb", "b", new ServerSettings(Host: serverB.Host, Port: serverB.Port, AdminUser: serverB.AdminUser ?? "root",
                AdminPassword: serverB.AdminPassword, MaxDatabases: 0, State: ServerState.Draining), Actor.Operator, ct);
            if (!added.Ok) throw new InvalidOperationException($"adding server B failed: {added.Problem!.Code} {added.Problem.Message}");
        }
        Console.WriteLine($"Server B registered with FleetService.AddAsync as {B} (port {serverB.Port}, admin password sealed in the store)");

        await CreateAsync(services, accounts, perAccount, 0, n, A, ct);
        await SetStateAsync(services, "default", ServerState.Draining, ct);
        await SetStateAsync(services, "b", ServerState.Active, ct);
        await CreateAsync(services, accounts, perAccount, n, 2 * n, B, ct);
        await SetStateAsync(services, "default", ServerState.Active, ct);

        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            var onA = await db.Databases.CountAsync(d => d.ServerId == A && d.Phase == DatabasePhase.Ready, ct);
            var onB = await db.Databases.CountAsync(d => d.ServerId == B && d.Phase == DatabasePhase.Ready, ct);
            if (onA != n || onB != n) throw new InvalidOperationException($"placement put {onA} on A and {onB} on B, not {n} each");
        }
        Console.WriteLine($"Provisioned {n} databases on each server in {(DateTime.UtcNow - started).TotalSeconds:0.0} s " +
                          $"({settings.Parallel} at a time, {accounts.Count} admin-tier accounts, every {settings.TableEvery}th given a 1,000-row table by its own user)");
    }

    private async Task CreateAsync(ServiceProvider services, List<string> accounts, int perAccount, int from, int to, string server, CancellationToken ct) =>
        await Parallel.ForEachAsync(Enumerable.Range(from, to - from), new ParallelOptions { MaxDegreeOfParallelism = settings.Parallel, CancellationToken = ct },
            async (i, token) =>
            {
                await using var scope = services.CreateAsyncScope();
                var outcome = await scope.ServiceProvider.GetRequiredService<DatabaseService>()
                    .CreateAsync(accounts[i / perAccount], $"fleet-{i}", "mariadb", Actor.Operator, null, token);
                if (!outcome.Ok) throw new InvalidOperationException($"creating database {i} failed: {outcome.Problem!.Code} {outcome.Problem.Message}");
                if (i % settings.TableEvery != 0) return;
                // On the server placement was steered to (checked for all of them once provisioning is done).
                await WatcherBench.FillAsync(services.GetRequiredService<EngineRegistry>().Get(EngineKind.MariaDb, server), outcome.Value!, token);
            });

    private static async Task SetStateAsync(ServiceProvider services, string server, ServerState state, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var set = await scope.ServiceProvider.GetRequiredService<FleetService>().SetAsync(server, "mariadb", new ServerSettings(State: state), Actor.Operator, ct);
        if (!set.Ok) throw new InvalidOperationException($"setting {server} {state.WireName()} failed: {set.Problem!.Code} {set.Problem.Message}");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}

using System.Diagnostics;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Fleet;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HepDb.Bench;

/// <summary>
/// Placement over a fleet (issue: "1,000 databases placed over 3 servers of different capacities ending within ±5% of
/// each server's share"). Three MariaDB servers with capacities of 20%, 50% and 130% of N (200, 500 and 1,300 for
/// N = 1,000) are registered in a real, migrated SQLite metadata store; N databases are then placed one at a time the
/// way <c>DatabaseService.ReserveAsync</c> does it: a transaction, <see cref="Placement.ChooseAsync"/>, the record with
/// the chosen <c>ServerId</c>, commit. Each server's count is compared with its share of the total capacity, and the time
/// per placement with the same number of plain record inserts (same scope, transaction and insert, no placement),
/// interleaved in batches so both see the same growing table.
/// </summary>
/// <remarks>The three servers are rows pointing at one real MariaDB (written directly: <see cref="FleetService.AddAsync"/>
/// refuses a second record of one host:port, rightly, since each would call the other's databases orphans). That is
/// harmless here because nothing but placement runs: no database is created on the engine, no watcher or reconciler
/// pass.</remarks>
internal sealed class PlacementBench(ServiceProvider services, EngineServerOptions mariaDb, BenchSettings settings)
{
    private const int Batch = 50;
    private const double Tolerance = 0.05;
    private static readonly HashSet<string> NoExclusions = [];

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var n = settings.Count;
        await MetadataStore.MigrateAsync(services, ct);
        await FleetSync.RegisterConfiguredAsync(services, ct); // what start-up does: the configured servers' rows
        var registry = services.GetRequiredService<EngineRegistry>();
        var fleet = new (string Name, int Capacity)[] { ("small", Math.Max(1, n / 5)), ("medium", Math.Max(1, n / 2)), ("large", Math.Max(1, n * 13 / 10)) };
        var totalCapacity = fleet.Sum(f => f.Capacity);

        Account account;
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            var box = scope.ServiceProvider.GetRequiredService<SecretBox>();
            var now = DateTime.UtcNow;
            // The configured server has no capacity limit, so placement would fill it first (full headroom): drained,
            // it keeps out of the way, as an operator would keep an old server out of a new fleet.
            var configured = await db.EngineServers.SingleAsync(s => s.Id == EngineServer.IdOf(EngineKind.MariaDb, EngineServer.DefaultName), ct);
            configured.State = ServerState.Draining;
            foreach (var (name, capacity) in fleet)
            {
                var id = EngineServer.IdOf(EngineKind.MariaDb, name);
                db.EngineServers.Add(new EngineServer
                {
                    Id = id, Engine = EngineKind.MariaDb, Name = name, Host = mariaDb.Host, Port = mariaDb.Port, AdminUser = mariaDb.AdminUser ?? "root",
                    AdminPasswordSealed = box.Encrypt(mariaDb.AdminPassword ?? "", id), MaxDatabases = capacity, State = ServerState.Active,
                    CreatedAt = now, ChangedAt = now,
                });
            }
            await db.SaveChangesAsync(ct);
            await FleetSync.LoadAsync(db, registry, ct);
            var accounts = scope.ServiceProvider.GetRequiredService<AccountService>();
            account = (await accounts.CreateAsync("placement@bench.invalid", Tier.Admin.WireName(), Actor.Operator, ct)).Value!;
        }
        var active = registry.ServersOf(EngineKind.MariaDb).Where(s => s.Row.State == ServerState.Active).Select(s => $"{s.Name} ({s.Row.MaxDatabases})");
        Console.WriteLine($"Fleet in the registry: MariaDB servers {string.Join(", ", active)}, all at port {mariaDb.Port}; 'default' drained");
        var limit = services.GetRequiredService<IOptions<TiersOptions>>().Value.Admin.ConnectionsPerUser;

        // One record, as ReserveAsync stores it; the baseline's go to PostgreSQL's configured server so that they never
        // count in the MariaDB servers' loads (placement reads loads by engine).
        TenantDatabase Record(EngineKind engine, string serverId, int slot)
        {
            var now = DateTime.UtcNow;
            return new TenantDatabase
            {
                Id = Ulid.New(TimeProvider.System), AccountId = account.Id, Name = $"p{slot}", Engine = engine, ServerId = serverId, Slot = slot,
                DbName = TenantNames.DatabaseName(engine, account.Slug, slot), DbUser = TenantNames.UserName(engine, account.Slug, slot),
                PasswordSealed = "x", Status = DatabaseStatus.Active, Phase = DatabasePhase.Provisioning, PhaseChangedAt = now,
                ConnectionLimit = limit, CreatedAt = now,
            };
        }

        var placed = new Dictionary<string, int>();
        var refused = 0;
        var placeMs = new List<double>();
        var insertMs = new List<double>();
        var baselineServer = EngineServer.IdOf(EngineKind.Postgres, EngineServer.DefaultName);
        // One untimed of each first (the first query of each shape pays for EF's compilation), removed again so that
        // placement starts from an empty fleet; the timed ones take slots 2 to N + 1.
        await OneAsync(place: false, slot: 1);
        await OneAsync(place: true, slot: 1);
        placed.Clear();
        await using (var scope = services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<HepDbContext>().Databases.Where(d => d.Slot == 1).ExecuteDeleteAsync(ct);
        var total = Stopwatch.StartNew();
        for (var start = 1; start <= n; start += Batch)
        {
            var end = Math.Min(n, start + Batch - 1);
            for (var slot = start; slot <= end; slot++) placeMs.Add(await OneAsync(place: true, slot + 1));
            for (var slot = start; slot <= end; slot++) insertMs.Add(await OneAsync(place: false, slot + 1));
        }
        total.Stop();

        async Task<double> OneAsync(bool place, int slot)
        {
            var sw = Stopwatch.StartNew();
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            string? serverId = baselineServer;
            if (place)
            {
                serverId = await Placement.ChooseAsync(db, registry, EngineKind.MariaDb, NoExclusions, DateTime.UtcNow, ct);
                if (serverId is null) { refused++; return sw.Elapsed.TotalMilliseconds; }
            }
            db.Databases.Add(Record(place ? EngineKind.MariaDb : EngineKind.Postgres, serverId, slot));
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            var ms = sw.Elapsed.TotalMilliseconds;
            if (place) placed[serverId] = placed.GetValueOrDefault(serverId) + 1;
            return ms;
        }

        // The store's own count, as placement itself reads it.
        Dictionary<string, (int Databases, long Bytes)> stored;
        await using (var scope = services.CreateAsyncScope())
            stored = await Placement.LoadsAsync(scope.ServiceProvider.GetRequiredService<HepDbContext>(), EngineKind.MariaDb, ct);

        Console.WriteLine();
        Console.WriteLine($"{n:N0} MariaDB databases placed one at a time (Placement.ChooseAsync inside each record's transaction, SQLite metadata):");
        Console.WriteLine($"  {"server",-8} {"capacity",8} {"share",7} {"expected",9} {"placed",7} {"in store",9} {"deviation",10}  verdict (±{Tolerance:0%} of its share)");
        var pass = refused == 0;
        foreach (var (name, capacity) in fleet)
        {
            var id = EngineServer.IdOf(EngineKind.MariaDb, name);
            var share = (double)capacity / totalCapacity;
            var expected = share * n;
            var count = placed.GetValueOrDefault(id);
            var inStore = stored.GetValueOrDefault(id).Databases;
            var deviation = (count - expected) / expected;
            var ok = Math.Abs(deviation) <= Tolerance && inStore == count && count <= capacity;
            pass &= ok;
            Console.WriteLine($"  {name,-8} {capacity,8} {share,7:0.0%} {expected,9:0.0} {count,7} {inStore,9} {deviation,10:+0.00%;-0.00%}  {(ok ? "PASS" : "FAIL")}");
        }
        if (refused > 0) Console.WriteLine($"  {refused} placements found no server with room: FAIL");
        var place = placeMs.Average();
        var insert = insertMs.Average();
        Console.WriteLine();
        Console.WriteLine($"Time per database, {n:N0} of each, interleaved in batches of {Batch} (scope, transaction, insert, commit; means):");
        Console.WriteLine($"  plain record insert (baseline)   {insert,7:0.00} ms   (median {Stats.Median(insertMs):0.00}, p99 {Stats.Percentile(insertMs, 99):0.00})");
        Console.WriteLine($"  placement + record insert        {place,7:0.00} ms   (median {Stats.Median(placeMs):0.00}, p99 {Stats.Percentile(placeMs, 99):0.00})");
        Console.WriteLine($"  ratio placement / baseline       {place / insert,7:0.00}x  of the means, {Stats.Median(placeMs) / Stats.Median(insertMs):0.00}x of the medians " +
                          $"(placement's own cost {place - insert:0.00} ms per database; whole run {total.Elapsed.TotalSeconds:0.0} s)");
        // Both read or write a table that grows by one record each time; placement reads every load of the engine.
        var tenth = Math.Max(1, n / 10);
        Console.WriteLine($"  medians of the first and last {tenth} of each: baseline {Stats.Median(insertMs.Take(tenth)):0.00} -> {Stats.Median(insertMs.TakeLast(tenth)):0.00} ms, " +
                          $"placement {Stats.Median(placeMs.Take(tenth)):0.00} -> {Stats.Median(placeMs.TakeLast(tenth)):0.00} ms");
        Console.WriteLine(pass ? "Result: PASS, every server within ±5% of its share" : "Result: FAIL");
        return pass ? 0 : 1;
    }
}

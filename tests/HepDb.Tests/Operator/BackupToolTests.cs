extern alias cli;

using HepDb.Api;
using HepDb.Backups;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using AdminTool = cli::HepDb.Cli.AdminTool;

using static HepDb.Tests.Operator.OperatorTool;

namespace HepDb.Tests.Operator;

/// <summary><c>hepdb-admin backup …</c> against a live server's store and the real engine servers, dump tools and
/// clients: the operator takes, lists, restores and purges backups through the same service as the API.</summary>
public sealed class BackupToolTests(EngineServers engines)
{
    [Fact]
    public async Task Run_takes_backups_outside_the_daily_limit_list_shows_them_and_restore_puts_back_a_deleted_row()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync(); // free: 3 manual backups a day for the tenant
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        await Tenant.MustRunAsync(db.ConnectionString, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, 'one'), (2, 'two');");

        var taken = new List<(string Id, long Size)>();
        for (var i = 0; i < 4; i++) // one more than the tenant's own daily limit: the operator's are not limited
        {
            var run = await RunAsync(app, "backup", "run", "--database", db.Id);
            Assert.True(run.ExitCode == 0, run.ToString());
            var fields = run.Output.TrimEnd('\n').Split('\t');
            Assert.Equal(2, fields.Length);
            Assert.Matches(Shape.Ulid(), fields[0]);
            taken.Add((fields[0], long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture)));
        }

        var listed = await RunAsync(app, "backup", "list", "--database", db.Id);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        var lines = Lines(listed.Output);
        Assert.Equal(taken.Select(t => t.Id).Reverse(), lines.Select(l => l[0])); // newest first
        foreach (var line in lines)
        {
            Assert.Equal(11, line.Length);
            Assert.Matches(Shape.IsoMillis(), line[1]);
            Assert.Equal([account.Id, db.Id, db.DbName, "mariadb", "manual", "complete"], line[2..8]);
            Assert.True(long.Parse(line[8], System.Globalization.CultureInfo.InvariantCulture) > 0, string.Join('\t', line));
            Assert.Equal(taken.Single(t => t.Id == line[0]).Size.ToString(System.Globalization.CultureInfo.InvariantCulture), line[8]);
            Assert.Matches(@"^\d+$", line[9]);
            Assert.Equal("-", line[10]);
        }
        Assert.Equal(listed.Output, (await RunAsync(app, "backup", "list", "--account", account.Id)).Output);
        Assert.Equal(4, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "backup.created" && a.Actor == "operator")));

        // A row deleted after the backups comes back with the first of them.
        await Tenant.MustRunAsync(db.ConnectionString, "DELETE FROM t WHERE id = 2");
        Assert.Equal("1", await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM t"));
        var restored = await RunAsync(app, "backup", "restore", "--database", db.Id, "--backup", taken[0].Id);
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Equal("restored", restored.Output.Trim());
        Assert.Equal("two", await Tenant.MustRunAsync(db.ConnectionString, "SELECT v FROM t WHERE id = 2"));
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO t VALUES (3, 'three')"); // the tenant writes again
        Assert.Equal(1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "backup.restored" && a.TargetId == db.Id)));

        // The safety copy the restore took is gone again; running and safety backups are listed with --all only.
        Assert.Equal(listed.Output, (await RunAsync(app, "backup", "list", "--database", db.Id)).Output);
        var hidden = new[] { (BackupKind.Scheduled, BackupStatus.Running), (BackupKind.Safety, BackupStatus.Complete) }.Select(h => new Backup
        {
            Id = HepDb.Hosting.Ulid.New(), AccountId = account.Id, DatabaseId = db.Id, Engine = HepDb.Engines.EngineKind.MariaDb, DbName = db.DbName,
            DatabaseName = "my-app", Kind = h.Item1, Status = h.Item2, CreatedAt = DateTime.UtcNow, Error = "line one\nline\ttwo", RequestedBy = "operator",
        }).ToList();
        await app.WithDbAsync(async d => { d.Backups.AddRange(hidden); return await d.SaveChangesAsync(); });
        Assert.Equal(listed.Output, (await RunAsync(app, "backup", "list", "--database", db.Id)).Output);
        var everything = Lines((await RunAsync(app, "backup", "list", "--database", db.Id, "--all")).Output);
        Assert.Equal(6, everything.Count);
        Assert.Equal(hidden.Select(h => h.Id).Order(), everything.Take(2).Select(l => l[0]).Order());
        Assert.All(everything.Take(2), l => Assert.Equal("line one line two", l[10])); // one line per backup, whatever the error says

        var noBackup = await RunAsync(app, "backup", "restore", "--database", db.Id, "--backup", hidden[1].Id); // a safety copy is never restored by id
        Assert.Equal(1, noBackup.ExitCode);
        Assert.Equal($"hepdb-admin: {ApiErrors.BackupNotFound.Message}", noBackup.Error.Trim());
    }

    [Fact]
    public async Task Purge_runs_a_scheduler_pass_that_removes_a_backup_past_its_retention_and_its_file()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync(); // free: backups are kept 3 days
        var db = await app.CreateDatabaseAsync(account, "postgres");
        await Tenant.MustRunAsync(db.ConnectionString, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
        var run = await RunAsync(app, "backup", "run", "--database", db.Id);
        Assert.True(run.ExitCode == 0, run.ToString());
        var backupId = run.Output.Split('\t')[0];
        var folder = Path.Combine(app.DataDir, "backups");
        Assert.Single(Directory.GetFiles(folder, $"{backupId}.bak", SearchOption.AllDirectories));

        await app.WithDbAsync(d => d.Backups.Where(b => b.Id == backupId).ExecuteUpdateAsync(s => s.SetProperty(b => b.CreatedAt, DateTime.UtcNow.AddDays(-4))));

        // The running server keeps the scheduler's lease between its passes; the operator's pass runs all the same.
        await WaitForLeaseAsync(app);
        var purged = await RunAsync(app, "backup", "purge");
        Assert.True(purged.ExitCode == 0, purged.ToString());
        Assert.Matches(@"^taken \d+, failed 0, purged 1, recovered 0$", purged.Output.Trim());
        Assert.Equal(0, await app.WithDbAsync(d => d.Backups.CountAsync(b => b.Id == backupId)));
        Assert.Empty(Directory.GetFiles(folder, $"{backupId}.bak", SearchOption.AllDirectories));
        Assert.Equal("", (await RunAsync(app, "backup", "list", "--database", db.Id)).Output);
    }

    [Fact]
    public async Task An_unknown_database_or_account_is_refused_with_exit_1_and_the_services_message()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        const string nobody = "01HZZZZZZZZZZZZZZZZZZZZZZZ";
        foreach (var args in new[] { new[] { "backup", "run", "--database", nobody }, ["backup", "restore", "--database", nobody, "--backup", nobody] })
        {
            var refused = await RunAsync(app, args);
            Assert.Equal(1, refused.ExitCode);
            Assert.Equal("", refused.Output);
            Assert.Equal($"hepdb-admin: {ApiErrors.DatabaseNotFound.Message}", refused.Error.Trim());
        }
        var noAccount = await RunAsync(app, "backup", "list", "--account", "nobody@nowhere.test");
        Assert.Equal(1, noAccount.ExitCode);
        Assert.Contains("No account", noAccount.Error, StringComparison.Ordinal);
        Assert.Equal(AdminTool.Usage, (await RunAsync(app, "backup", "restore", "--database", nobody)).ExitCode); // --backup is required
        Assert.Equal(0, await app.WithDbAsync(d => d.Backups.CountAsync()));
    }

    private static List<string[]> Lines(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();

    /// <summary>Waits for the server's first scheduler pass, which takes the lease.</summary>
    private static async Task WaitForLeaseAsync(HepDbApp app)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(20); !await app.WithDbAsync(d => d.Leases.AnyAsync(l => l.Name == "backups" && l.ExpiresAt > DateTime.UtcNow)); await Task.Delay(100))
            Assert.True(DateTime.UtcNow < deadline, "the server's backup scheduler did not take its lease within 20 s");
    }

}

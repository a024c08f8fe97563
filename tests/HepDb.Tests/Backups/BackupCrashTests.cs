using System.Diagnostics;
using System.Net;
using HepDb.Backups;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Backups;

/// <summary>
/// kill -9 of a HepDb process in the middle of a backup and in the middle of a restore (the operator tool, a real
/// process running the same BackupService, killed while its dump or load tool runs). The next scheduler pass (what
/// a restarted server runs at start) leaves no half backup listed and the database usable with either its previous
/// or its restored contents, never a mix.
/// </summary>
public sealed class BackupCrashTests(EngineServers engines)
{
    public static TheoryData<string> Engines => new() { "mariadb", "postgres" };

    [Theory, MemberData(nameof(Engines))]
    public async Task Kill_9_mid_backup_and_mid_restore_converges_to_whole_contents_and_no_half_backup(string engine)
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await TenantData.FillAsync(db.ConnectionString, engine, rows: 40_000);
        var original = await TenantData.ChecksumAsync(db.ConnectionString, engine);
        var backupId = (await Shape.SuccessAsync(await account.Api.PostAsync(BackupApiTests.BackupsOf(db.Id), null), HttpStatusCode.Created))
            .GetProperty("backup").GetProperty("id").GetString()!;
        await Tenant.MustRunAsync(db.ConnectionString, "DELETE FROM big WHERE id % 2 = 0");
        var changed = await TenantData.ChecksumAsync(db.ConnectionString, engine);
        var dumpTool = engine == "postgres" ? "pg_dump" : "mariadb-dump";
        var loadTool = engine == "postgres" ? "pg_restore" : "mariadb";

        // Mid-backup: the operator tool is killed while its dump tool streams.
        await KillWhileRunningAsync(app, dumpTool, "backup", "run", "--database", db.Id);
        var scheduler = app.Services.GetRequiredService<BackupScheduler>();
        var pass = await scheduler.RunOnceAsync(TestContext.Current.CancellationToken, requireLease: false);
        Assert.True(pass!.Recovered >= 1, $"nothing was recovered: {pass}");
        var listed = (await Shape.SuccessAsync(await account.Api.GetAsync(BackupApiTests.BackupsOf(db.Id)), HttpStatusCode.OK)).GetProperty("backups").EnumerateArray().ToList();
        Assert.Equal([backupId], listed.Where(b => b.GetProperty("status").GetString() == "complete").Select(b => b.GetProperty("id").GetString()!).ToArray());
        Assert.All(listed.Where(b => b.GetProperty("id").GetString() != backupId), b => Assert.Equal("failed", b.GetProperty("status").GetString()));
        Assert.Equal([$"{backupId}.bak"], StoredFiles(app));
        Assert.Equal(changed, await TenantData.ChecksumAsync(db.ConnectionString, engine)); // a backup never touches the contents

        // Mid-restore: killed while the load tool runs (the safety copy is stored and the database is being replaced).
        await KillWhileRunningAsync(app, loadTool, "backup", "restore", "--database", db.Id, "--backup", backupId);
        await scheduler.RunOnceAsync(TestContext.Current.CancellationToken, requireLease: false);
        var after = await TenantData.ChecksumAsync(db.ConnectionString, engine); // the tenant logs in again
        Assert.True(after == original || after == changed, $"the contents are a mix: {after} (original {original}, before the restore {changed})");
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO big (id, payload) VALUES (990001, 'writes again')");
        var record = await app.WithDbAsync(m => m.Databases.AsNoTracking().SingleAsync(d => d.Id == db.Id));
        Assert.Null(record.RestoreBackupId);
        Assert.Null(record.RestoreSafetyId);
        Assert.Empty(await app.WithDbAsync(m => m.Backups.Where(b => b.Kind == BackupKind.Safety || b.Status == BackupStatus.Running).ToListAsync()));
        Assert.Equal([$"{backupId}.bak"], StoredFiles(app));
    }

    private static string[] StoredFiles(HepDbApp app) =>
        Directory.GetFiles(Path.Combine(app.DataDir, "backups"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order().ToArray()!;

    /// <summary>Starts hepdb-admin with <paramref name="args"/> on the app's data folder and engines, waits until it runs
    /// <paramref name="tool"/> as its child, then kills it with SIGKILL.</summary>
    private static async Task KillWhileRunningAsync(HepDbApp app, string tool, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hepdb-admin.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in Operator.OperatorTool.Environment(app)) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        for (var deadline = DateTime.UtcNow.AddSeconds(60); !ChildRuns(process.Id, tool); await Task.Delay(5))
        {
            if (process.HasExited)
                Assert.Fail($"hepdb-admin {string.Join(' ', args)} ended (exit {process.ExitCode}) before its {tool} ran: {await stdout} {await stderr}");
            Assert.True(DateTime.UtcNow < deadline, $"hepdb-admin did not start {tool} within 60 s");
        }
        await Task.Delay(150); // into the stream, not at its first byte
        process.Kill(entireProcessTree: false); // SIGKILL to HepDb alone, as a crash: its tool is left to notice
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.NotEqual(0, process.ExitCode);
    }

    private static bool ChildRuns(int parent, string tool)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[1] != parent.ToString()) continue;
                var exe = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0')[0];
                if (Path.GetFileName(exe) == tool) return true;
            }
            catch (IOException)
            {
                // the process ended while we looked
            }
        }
        return false;
    }
}

using HepDb.Databases;
using HepDb.Engines;
using HepDb.Security;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>What a crash leaves behind is rolled back; what belongs to someone else is left alone.</summary>
public abstract class ReconcilerTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : ReconcilerTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : ReconcilerTests(engines.On(Metadata.Postgres));

    public static TheoryData<string> Engines => new() { "mariadb", "postgres" };

    /// <summary>HepDb killed mid-rotate leaves a pending password that the engine may or may not have taken yet. Reveal
    /// and rotate must not wait for the reconciler: reveal finishes the rotation and hands out the password that logs
    /// in; rotate on a half-rotated database finishes it at once instead of failing after a wait.</summary>
    [Theory, MemberData(nameof(Engines))]
    public async Task A_rotation_cut_short_by_a_crash_is_finished_by_the_next_reveal_or_rotate(string engine)
    {
        await using var app = new HepDbApp(engines);
        var kind = EngineKinds.Parse(engine);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        var box = app.Services.GetRequiredService<SecretBox>();

        async Task<string> CrashMidRotateAsync(bool engineTookIt)
        {
            var password = Secrets.NewDatabasePassword();
            app.Remember(password);
            var sealedPassword = box.Encrypt(password, db.Id);
            await app.WithDbAsync(d => d.Databases.Where(x => x.Id == db.Id).ExecuteUpdateAsync(s => s
                .SetProperty(x => x.PendingPasswordSealed, sealedPassword).SetProperty(x => x.PendingSince, DateTime.UtcNow)));
            if (engineTookIt) await app.Engine(kind).SetPasswordAsync(db.DbUser, password, CancellationToken.None);
            return password;
        }

        foreach (var engineTookIt in new[] { false, true })
        {
            var pending = await CrashMidRotateAsync(engineTookIt);
            var revealed = await Shape.SuccessAsync(await account.Api.GetAsync(Paths.Database(db.Id)), System.Net.HttpStatusCode.OK);
            Assert.Equal(pending, revealed.GetProperty("password").GetString());
            await Tenant.MustRunAsync(revealed.GetProperty("connectionString").GetString()!, "SELECT 1");
            Assert.Null(await app.WithDbAsync(d => d.Databases.Where(x => x.Id == db.Id).Select(x => x.PendingPasswordSealed).SingleAsync()));
        }

        await CrashMidRotateAsync(engineTookIt: true);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var rotated = await Shape.SuccessAsync(await account.Api.PostAsync(Paths.Rotate(db.Id), null), System.Net.HttpStatusCode.OK);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"rotate took {sw.Elapsed}");
        await Tenant.MustRunAsync(rotated.GetProperty("connectionString").GetString()!, "SELECT 1");
        var again = await Shape.SuccessAsync(await account.Api.GetAsync(Paths.Database(db.Id)), System.Net.HttpStatusCode.OK);
        Assert.Equal(rotated.GetProperty("password").GetString(), again.GetProperty("password").GetString());
        Assert.Null(await app.WithDbAsync(d => d.Databases.Where(x => x.Id == db.Id).Select(x => x.PendingPasswordSealed).SingleAsync()));
    }

    [Theory, MemberData(nameof(Engines))]
    public async Task A_stale_provisioning_record_is_rolled_back_on_the_engine_and_in_metadata(string engine)
    {
        await using var app = new HepDbApp(engines);
        var kind = EngineKinds.Parse(engine);
        var account = await app.CreateAccountAsync(Accounts.Tier.Premium);
        var ready = await app.CreateDatabaseAsync(account, engine, "keep me");
        await app.ReconcilerStarted; // its pass at start must not roll back the stale record first

        var stale = await CrashedProvisioningAsync(app, account, kind, slot: 2, phaseChangedAt: DateTime.UtcNow.AddHours(-1));
        var fresh = await CrashedProvisioningAsync(app, account, kind, slot: 3, phaseChangedAt: DateTime.UtcNow);
        await Tenant.MustRunAsync(stale.ConnectionString, "SELECT 1");

        var report = await RunReconcilerAsync(app);

        Assert.Equal(1, report.RolledBack);
        Assert.Empty(report.Errors);
        Assert.False(await app.WithDbAsync(db => db.Databases.AnyAsync(d => d.Id == stale.Id)));
        Assert.DoesNotContain(stale.DbName, (await EngineObjects.ListAsync(engines, kind)).Databases);
        Assert.DoesNotContain(stale.DbUser, (await EngineObjects.ListAsync(engines, kind)).Users);
        await Tenant.MustFailAsync(stale.ConnectionString, "SELECT 1");

        // A provisioning record that is not stale is an in-flight create: left alone. The ready database is untouched.
        Assert.True(await app.WithDbAsync(db => db.Databases.AnyAsync(d => d.Id == fresh.Id)));
        await Tenant.MustRunAsync(fresh.ConnectionString, "SELECT 1");
        await Tenant.ProveWorksAsync(ready.ConnectionString, "survived the reconciler");
        await app.Engine(kind).DropTenantAsync(fresh.DbName, fresh.DbUser, CancellationToken.None);
    }

    [Theory, MemberData(nameof(Engines))]
    public async Task Orphans_of_a_known_account_are_dropped_and_those_of_an_unknown_slug_are_left_alone(string engine)
    {
        await using var app = new HepDbApp(engines);
        var kind = EngineKinds.Parse(engine);
        var account = await app.CreateAccountAsync();
        var ready = await app.CreateDatabaseAsync(account, engine, "mine");
        var adapter = app.Engine(kind);
        await app.ReconcilerStarted; // its pass at start must not take the orphans first

        var orphan = Spec(kind, account.Slug, 7);
        await adapter.CreateTenantAsync(orphan, CancellationToken.None);
        var strangerSlug = Secrets.Generate(10).ToLowerInvariant();
        var stranger = Spec(kind, strangerSlug, 1);
        await adapter.CreateTenantAsync(stranger, CancellationToken.None);
        // Half-orphans too: a user without its database, for the known account.
        var loneUser = Spec(kind, account.Slug, 8);
        await adapter.CreateTenantAsync(loneUser, CancellationToken.None);
        await adapter.DropTenantAsync(loneUser.DbName, "du" + kind.NameLetter() + "_nobody00000_1", CancellationToken.None);
        try
        {
            var report = await RunReconcilerAsync(app);

            Assert.Equal(2, report.OrphansDropped);
            Assert.Empty(report.Errors);
            var objects = await EngineObjects.ListAsync(engines, kind);
            Assert.DoesNotContain(orphan.DbName, objects.Databases);
            Assert.DoesNotContain(orphan.User, objects.Users);
            Assert.DoesNotContain(loneUser.User, objects.Users);
            Assert.Contains(stranger.DbName, objects.Databases);
            Assert.Contains(stranger.User, objects.Users);
            Assert.Equal("1", await adapter.ScalarAsTenantAsync(stranger.DbName, stranger.User, stranger.Password, "SELECT 1", CancellationToken.None));
            await Tenant.ProveWorksAsync(ready.ConnectionString, "ours, with a record");
            Assert.Equal([ready.DbUser, ready.DbName], (await EngineObjects.ForSlugAsync(engines, account.Slug)).Select(n => n[(n.IndexOf(':') + 1)..]));
        }
        finally
        {
            await adapter.DropTenantAsync(stranger.DbName, stranger.User, CancellationToken.None);
        }
    }

    private static TenantSpec Spec(EngineKind kind, string slug, int slot) =>
        new(TenantNames.DatabaseName(kind, slug, slot), TenantNames.UserName(kind, slug, slot), Secrets.NewDatabasePassword(), 5);

    /// <summary>What a crash between reserving the slot and marking the database ready leaves: a provisioning record
    /// and (some of) its engine objects.</summary>
    private static async Task<(string Id, string DbName, string DbUser, string ConnectionString)> CrashedProvisioningAsync(
        HepDbApp app, Infrastructure.TestAccount account, EngineKind kind, int slot, DateTime phaseChangedAt)
    {
        var id = Hosting.Ulid.New();
        var spec = Spec(kind, account.Slug, slot);
        app.Remember(spec.Password);
        var box = app.Services.GetRequiredService<SecretBox>();
        await app.WithDbAsync(async db =>
        {
            db.Databases.Add(new TenantDatabase
            {
                Id = id, AccountId = account.Id, Name = "crashed", Engine = kind, Slot = slot, DbName = spec.DbName, DbUser = spec.User,
                PasswordSealed = box.Encrypt(spec.Password, id), Phase = DatabasePhase.Provisioning, PhaseChangedAt = phaseChangedAt,
                ConnectionLimit = 5, CreatedAt = phaseChangedAt,
            });
            return await db.SaveChangesAsync();
        });
        await app.Engine(kind).CreateTenantAsync(spec, CancellationToken.None);
        return (id, spec.DbName, spec.User, app.Engine(kind).ConnectionString(spec.DbName, spec.User, spec.Password));
    }

    private static async Task<ReconcileReport> RunReconcilerAsync(HepDbApp app)
    {
        var report = await app.Services.GetRequiredService<Reconciler>().RunOnceAsync(CancellationToken.None);
        Assert.NotNull(report);
        return report;
    }
}

using System.Net.Http.Json;
using System.Text;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Security;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>No password or key ever reaches the log (captured at Trace) or the metadata files.</summary>
public abstract class SecretLeakTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : SecretLeakTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : SecretLeakTests(engines.On(Metadata.Postgres));

    [Fact]
    public async Task Passwords_and_keys_never_appear_in_the_log_or_the_metadata_files()
    {
        // Every category at Trace, including ASP.NET Core and EF Core (which would show SQL parameters if sensitive
        // data logging were ever turned on).
        var app = new HepDbApp(engines, new()
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Trace",
        });
        await using var _ = app;
        var account = await app.CreateAccountAsync(Accounts.Tier.Premium);
        var other = await app.CreateAccountAsync();

        // Create, reveal, rotate (twice), on both engines, with an Idempotency-Key replay.
        var maria = await app.CreateDatabaseAsync(account, "mariadb");
        var body = Requests.CreateBody("idem", "postgres");
        var pg = CreatedDatabase.Parse(await (await account.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "leak-1"))).Content.ReadAsStringAsync());
        app.Remember(pg.Password);
        await account.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "leak-1"));
        foreach (var db in new[] { maria, pg })
        {
            await account.Api.GetAsync(Paths.Database(db.Id));
            for (var i = 0; i < 2; i++)
            {
                var rotated = CreatedDatabase.Parse(await (await account.Api.PostAsync(Paths.Rotate(db.Id), null)).Content.ReadAsStringAsync());
                app.Remember(rotated.Password);
                await Tenant.MustRunAsync(rotated.ConnectionString, "SELECT 1");
            }
        }

        // Errors: every kind of bad key, limits, bad bodies, another account's ids.
        var guessed = "hepgg_db_" + Secrets.Generate(32);
        app.Remember(guessed);
        await app.ApiClient(guessed).GetAsync(Paths.Databases);
        await app.ApiClient(guessed, "Token").PostAsJsonAsync(Paths.Databases, new { name = "x", engine = "mariadb" });
        await app.ApiClient(account.Key + "x").GetAsync(Paths.Databases);
        await account.Api.PostAsJsonAsync(Paths.Databases, new { name = "third", engine = "mariadb" });
        await account.Api.SendAsync(Requests.Post(Paths.Databases, "{\"name\":\"" + account.Key + "\",\"engine\":\"nope\"}"));
        await other.Api.GetAsync(Paths.Database(maria.Id));
        await other.Api.PostAsync(Paths.Rotate(maria.Id), null);

        // Key lifecycle: the rotated-away value, a deleted key, a disabled key.
        var keyId = (await WithKeysAsync(app, k => k.ListAsync(account.Id, CancellationToken.None))).Single().Id;
        var rotatedKey = await WithKeysAsync(app, k => k.RotateAsync(account.Id, keyId, Actor.Operator, CancellationToken.None));
        app.Remember(rotatedKey.Value!.Value);
        await account.Api.GetAsync(Paths.Databases); // the old value, now BAD_KEY
        await app.ApiClient(rotatedKey.Value.Value).GetAsync(Paths.Databases);
        var second = await app.MintKeyAsync(other.Id);
        var secondId = (await WithKeysAsync(app, k => k.ListAsync(other.Id, CancellationToken.None))).Last().Id;
        await WithKeysAsync(app, k => k.DisableAsync(other.Id, secondId, Actor.Operator, CancellationToken.None));
        await app.ApiClient(second).GetAsync(Paths.Databases);

        await app.Services.GetRequiredService<KeyUsageRecorder>().FlushAsync(CancellationToken.None);
        var secrets = app.SecretsSeen.Distinct().ToList();
        // 4 keys (two minted, one rotated-away value's successor, one disabled) + 1 guessed + 2 created and 4 rotated passwords.
        Assert.True(secrets.Count >= 11, $"only {secrets.Count} secrets were exercised");
        Assert.All(secrets, s => Assert.True(s.Length >= 24));

        // The log, at Trace level, names what happened but carries none of the secrets.
        var log = app.Log.Text;
        Assert.Contains("Executed DbCommand", log, StringComparison.Ordinal); // proves the log was captured at Trace
        Assert.Contains("/api/v1/db/databases", log, StringComparison.Ordinal);
        foreach (var secret in secrets)
            Assert.False(log.Contains(secret, StringComparison.Ordinal), $"a secret starting {secret[..4]} is in the log");

        // The metadata store's files, searched byte for byte.
        var files = await MetadataFilesAsync(app);
        var searched = 0L;
        foreach (var file in files)
        {
            var bytes = ReadShared(file);
            searched += bytes.Length;
            foreach (var secret in secrets)
            {
                Assert.False(Contains(bytes, Encoding.ASCII.GetBytes(secret)), $"a secret starting {secret[..4]} is in {Path.GetFileName(file)}");
                Assert.False(Contains(bytes, Encoding.Unicode.GetBytes(secret)), $"a secret starting {secret[..4]} is in {Path.GetFileName(file)} (UTF-16)");
            }
        }
        // The files really hold the metadata (so the search above looked at real content).
        Assert.True(files.Select(ReadShared).Any(b => Contains(b, Encoding.ASCII.GetBytes(maria.Id))), "the database id was not found in any metadata file");
        Assert.True(searched > 0);

        // Stored passwords are sealed (AES-GCM, with a key id), never the plaintext, and open to the current password.
        var box = app.Services.GetRequiredService<SecretBox>();
        var records = await app.WithDbAsync(db => db.Databases.AsNoTracking().Where(d => d.AccountId == account.Id).ToListAsync());
        Assert.Equal(2, records.Count);
        foreach (var record in records)
        {
            Assert.StartsWith("v1.", record.PasswordSealed, StringComparison.Ordinal);
            Assert.Null(record.PendingPasswordSealed);
            foreach (var secret in secrets) Assert.DoesNotContain(secret, record.PasswordSealed, StringComparison.Ordinal);
            var current = box.Decrypt(record.PasswordSealed, record.Id);
            Assert.Contains(current, secrets);
            Assert.NotEqual(box.Encrypt(current, record.Id), box.Encrypt(current, record.Id)); // a fresh nonce each time
        }
        Assert.All(await app.WithDbAsync(db => db.ApiKeys.AsNoTracking().ToListAsync()), k =>
        {
            Assert.Matches("^[0-9a-f]{64}$", k.Hash);
            Assert.Equal(13, k.Prefix.Length);
        });
    }

    /// <summary>SQLite: the main file, WAL and shared memory. PostgreSQL: the files of the store's own database, after a
    /// checkpoint has written everything to them.</summary>
    private static async Task<List<string>> MetadataFilesAsync(HepDbApp app)
    {
        if (app.Engines.Metadata == Metadata.Sqlite)
        {
            var sqlite = new[] { "hepdb.db", "hepdb.db-wal", "hepdb.db-shm" }.Select(f => Path.Combine(app.DataDir, f)).Where(File.Exists).ToList();
            Assert.Contains(sqlite, f => f.EndsWith("hepdb.db", StringComparison.Ordinal));
            return sqlite;
        }
        var folder = await app.WithDbAsync(async db =>
        {
            await db.Database.ExecuteSqlRawAsync("CHECKPOINT");
            var dataDirectory = await db.Database.SqlQueryRaw<string>("SELECT current_setting('data_directory') AS \"Value\"").SingleAsync();
            var oid = await db.Database.SqlQueryRaw<long>("SELECT oid::bigint AS \"Value\" FROM pg_database WHERE datname = current_database()").SingleAsync();
            return Path.Combine(dataDirectory, "base", oid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        var files = Directory.GetFiles(folder).ToList();
        Assert.NotEmpty(files);
        return files;
    }

    private static byte[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private static async Task<T> WithKeysAsync<T>(HepDbApp app, Func<ApiKeyService, Task<T>> work)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<ApiKeyService>());
    }
}

using System.Security.Cryptography.X509Certificates;
using HepDb.Hosting.LocalEngines;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MySqlConnector;

namespace HepDb.Tests.Network;

/// <summary>TLS to every tenant login, with the real clients: plaintext is refused, <c>require</c> works, and full
/// verification works with the CA certificate HepDb offers (the test servers run HepDb's own local-server TLS).</summary>
public sealed class TlsTests(EngineServers engines, SharedApp shared) : IClassFixture<SharedApp>
{
    private string Ca(string engine) => (engine == "mariadb" ? engines.Engines.MariaDb : engines.Engines.Postgres).CaCertificateFile!;

    [Fact]
    public async Task MariaDB_refuses_a_plaintext_login_and_takes_TLS_verified_with_the_CA()
    {
        var app = shared.For(engines);
        var db = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), "mariadb");
        Assert.EndsWith("?ssl-mode=REQUIRED", db.ConnectionString, StringComparison.Ordinal);

        var plain = await Clients.MariaDbAsync(db.ConnectionString, "SELECT 1", "--skip-ssl");
        Assert.False(plain.Ok, plain.ToString());
        Assert.Contains("Access denied", plain.Error, StringComparison.Ordinal);

        var required = await Clients.MariaDbAsync(db.ConnectionString, "SHOW STATUS LIKE 'Ssl_version'", "--ssl");
        Assert.True(required.Ok, required.ToString());
        Assert.Contains("TLSv1.", required.Output, StringComparison.Ordinal);

        var verified = await Clients.MariaDbAsync(db.ConnectionString, "SELECT 1", $"--ssl-ca={Ca("mariadb")}", "--ssl-verify-server-cert");
        Assert.True(verified.Ok, verified.ToString());

        // Verification means something: with another CA the same login is refused.
        var otherCa = Path.Combine(Path.GetTempPath(), $"hepdb-other-ca-{Guid.NewGuid():N}");
        LocalCertificates.Ensure(otherCa, [], DateTimeOffset.UtcNow);
        var wrong = await Clients.MariaDbAsync(db.ConnectionString, "SELECT 1", $"--ssl-ca={LocalCertificates.Files(otherCa).CaCertificate}", "--ssl-verify-server-cert");
        Assert.False(wrong.Ok, wrong.ToString());
        Directory.Delete(otherCa, recursive: true);
    }

    [Fact]
    public async Task PostgreSQL_refuses_a_plaintext_login_and_takes_TLS_verified_with_the_CA()
    {
        var app = shared.For(engines);
        var db = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), "postgres");
        Assert.EndsWith("?sslmode=require", db.ConnectionString, StringComparison.Ordinal);
        var bare = db.ConnectionString[..db.ConnectionString.IndexOf('?', StringComparison.Ordinal)];

        var plain = await Clients.PsqlAsync(bare + "?sslmode=disable", "SELECT 1");
        Assert.False(plain.Ok, plain.ToString());
        Assert.Contains("no encryption", plain.Error, StringComparison.Ordinal); // pg_hba.conf has no plaintext rule for tenants

        var required = await Clients.PsqlAsync(db.ConnectionString, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        Assert.True(required.Ok, required.ToString());
        Assert.Equal("t", required.Output.Trim());

        var verified = await Clients.PsqlAsync($"{bare}?sslmode=verify-full&sslrootcert={Ca("postgres")}", "SELECT 1");
        Assert.True(verified.Ok, verified.ToString());
        // verify-full checks the name too: 127.0.0.1 is in the certificate, "elsewhere.example" (same address) is not.
        var misnamed = await Clients.PsqlAsync(
            $"{bare.Replace("@127.0.0.1:", "@elsewhere.example:", StringComparison.Ordinal)}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={Ca("postgres")}", "SELECT 1");
        Assert.False(misnamed.Ok, misnamed.ToString());
        Assert.Contains("does not match host name", misnamed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_MariaDB_user_made_without_the_TLS_requirement_gets_it_from_the_reconciler()
    {
        // A server of its own: every app's reconciler converges its whole server at start, so on the shared one another
        // test's app could restore the requirement before this test sees it gone.
        await using var server = await PrivateMariaDb.StartAsync("tls-converge");
        var o = server.Options.MariaDb;
        await using var app = new HepDbApp(engines, new()
        {
            ["Engines:MariaDb:Port"] = o.Port.ToString(), ["Engines:MariaDb:AdminPassword"] = o.AdminPassword,
        });
        await app.ReconcilerStarted; // nor may its own pass at start
        var db = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), "mariadb");
        await using (var admin = new MySqlConnection($"Server=127.0.0.1;Port={o.Port};User ID=root;Password={o.AdminPassword}"))
        {
            await admin.OpenAsync();
            await using var cmd = new MySqlCommand($"ALTER USER '{db.DbUser}'@'%' REQUIRE NONE", admin);
            await cmd.ExecuteNonQueryAsync();
        }
        Assert.True((await Clients.MariaDbAsync(db.ConnectionString, "SELECT 1", "--skip-ssl")).Ok); // as an older HepDb left it

        await app.Services.GetRequiredService<HepDb.Databases.Reconciler>().RunOnceAsync(CancellationToken.None, requireLease: false);

        Assert.False((await Clients.MariaDbAsync(db.ConnectionString, "SELECT 1", "--skip-ssl")).Ok);
        Assert.True((await Clients.MariaDbAsync(db.ConnectionString, "SELECT 1")).Ok);
    }

    [Fact]
    public void The_local_CA_and_certificate_are_made_once_private_and_renewed_before_they_expire()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"hepdb-tls-{Guid.NewGuid():N}");
        try
        {
            var now = DateTimeOffset.UtcNow;
            Assert.True(LocalCertificates.Ensure(dir, ["db.example.com"], now));
            var files = LocalCertificates.Files(dir);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files.ServerKey));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "tls", "ca.key")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(dir, "tls")));
            var first = File.ReadAllText(files.ServerCertificate);
            var ca = File.ReadAllText(files.CaCertificate);

            using (var cert = X509Certificate2.CreateFromPem(File.ReadAllText(files.ServerCertificate)))
            using (var issuer = X509Certificate2.CreateFromPem(File.ReadAllText(files.CaCertificate)))
            {
                var names = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
                Assert.Contains("db.example.com", names.EnumerateDnsNames());
                Assert.Contains(System.Net.IPAddress.Loopback, names.EnumerateIPAddresses());
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(issuer);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                Assert.True(chain.Build(cert));
            }

            Assert.False(LocalCertificates.Ensure(dir, ["db.example.com"], now.AddDays(300))); // 65 days left: kept
            Assert.Equal(first, File.ReadAllText(files.ServerCertificate));
            Assert.True(LocalCertificates.Ensure(dir, ["db.example.com"], now.AddDays(340))); // 25 days left: renewed
            Assert.NotEqual(first, File.ReadAllText(files.ServerCertificate));
            Assert.Equal(ca, File.ReadAllText(files.CaCertificate)); // by the same CA
            var second = File.ReadAllText(files.ServerCertificate);
            Assert.True(LocalCertificates.Ensure(dir, ["db.example.com", "db2.example.com"], now.AddDays(340))); // a new public host
            Assert.NotEqual(second, File.ReadAllText(files.ServerCertificate));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

using System.Security.Cryptography;
using System.Text;
using HepDb.Accounts;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Quotas;
using HepDb.Security;
using Microsoft.Extensions.Time.Testing;

namespace HepDb.Tests.Unit;

/// <summary>The decisions HepDb makes, as pure functions: no server, no database, no real clock. The engine and API
/// tests show the same rules end to end; these pin the boundaries.</summary>
public sealed class DecisionTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
    private DateTime Now => _clock.GetUtcNow().UtcDateTime;

    private static readonly TierLimits Free = new TiersOptions().Free;

    private PackGrant Pack(int slots, long mb, DateTime expires) => new()
    {
        Id = Guid.NewGuid().ToString("N"), AccountId = "a", PackId = "p", Slots = slots, StorageMb = mb, GrantedAt = Now.AddDays(-1), ExpiresAt = expires,
        Source = "operator",
    };

    [Fact]
    public void Effective_limits_add_every_unexpired_pack_and_a_pack_ends_at_its_expiry()
    {
        var packs = new[] { Pack(1, 100, Now.AddSeconds(1)), Pack(2, 50, Now), Pack(4, 25, Now.AddSeconds(-1)) };
        var limits = EffectiveLimits.Compute(Free, packs, Now);
        Assert.Equal(Free.Databases + 1, limits.Databases);
        Assert.Equal((Free.StorageMb + 100) * EffectiveLimits.Mb, limits.StorageBytes);
        Assert.Equal(Free.ConnectionsPerUser, limits.ConnectionsPerUser); // packs never raise connection limits

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(new EffectiveLimits(Free.Databases, Free.StorageMb * EffectiveLimits.Mb, Free.ConnectionsPerUser, Free.ActiveKeys),
            EffectiveLimits.Compute(Free, packs, Now));
    }

    [Theory]
    [InlineData(false, 100, "active")]           // exactly at the limit is still allowed
    [InlineData(false, 101, "over_quota")]       // one byte over blocks growth
    [InlineData(true, 0, "disabled")]            // suspension wins over everything
    [InlineData(true, 1_000, "disabled")]
    public void The_verdict_follows_suspension_first_then_storage(bool suspended, long usedBytes, string status)
    {
        var verdict = AccountVerdict.Decide(suspended, usedBytes, new EffectiveLimits(1, 100, 10, 2));
        Assert.Equal(status, verdict.DesiredStatus.WireName());
        Assert.Equal(10, verdict.ConnectionLimit);
        Assert.Equal(usedBytes, verdict.UsedBytes);
    }

    [Fact]
    public void Names_follow_the_spec_and_only_safe_identifiers_reach_DDL()
    {
        Assert.Equal("um_abc123_7", TenantNames.DatabaseName(EngineKind.MariaDb, "abc123", 7));
        Assert.Equal("dup_abc123_7", TenantNames.UserName(EngineKind.Postgres, "abc123", 7));
        Assert.Matches(TenantNames.Pattern(), TenantNames.UserName(EngineKind.Mongo, "z", 1));
        Assert.DoesNotMatch(TenantNames.Pattern(), "um_abc_0");           // slots start at 1
        Assert.DoesNotMatch(TenantNames.Pattern(), "um_abcdefghijk_1");   // slugs are at most 10 characters
        foreach (var bad in new[] { "", "UM_x_1", "um x", "um`x", "um'x", "um;drop", new string('a', 64) })
            Assert.Throws<ArgumentException>(() => TenantNames.Require(bad));
        Assert.Equal("`um\\_abc\\_1`", TenantNames.MariaDbGrantPattern("um_abc_1")); // '_' would match any character
        Assert.Equal("\"up_abc_1\"", TenantNames.PostgresQuote("up_abc_1"));
        Assert.Throws<ArgumentException>(() => TenantNames.Literal("it's"));
        Assert.Throws<ArgumentException>(() => TenantNames.Literal("back\\slash"));
    }

    [Fact]
    public void The_mariadb_password_hash_is_mysql_native_password()
    {
        // The published value of PASSWORD('password') on MariaDB / MySQL 5.x.
        Assert.Equal("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", MariaDbAdapter.NativePasswordHash("password"));
    }

    [Fact]
    public void Sealed_passwords_open_only_for_their_own_record_and_key()
    {
        var keys = new Dictionary<string, byte[]> { ["k1"] = RandomNumberGenerator.GetBytes(32), ["k2"] = RandomNumberGenerator.GetBytes(32) };
        var box = new SecretBox(keys, "k1");
        var sealedValue = box.Encrypt("s3cret-password", "record-1");
        Assert.StartsWith("v1.k1.", sealedValue, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", sealedValue, StringComparison.Ordinal);
        Assert.NotEqual(sealedValue, box.Encrypt("s3cret-password", "record-1")); // a fresh nonce each time
        Assert.Equal("s3cret-password", box.Decrypt(sealedValue, "record-1"));

        // Moved to another record, tampered with, or sealed under a key this replica does not have: refused.
        Assert.ThrowsAny<CryptographicException>(() => box.Decrypt(sealedValue, "record-2"));
        var blob = Convert.FromBase64String(sealedValue.Split('.')[2]);
        blob[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => box.Decrypt($"v1.k1.{Convert.ToBase64String(blob)}", "record-1"));
        Assert.ThrowsAny<CryptographicException>(() => new SecretBox(new Dictionary<string, byte[]> { ["k2"] = keys["k2"] }, "k2").Decrypt(sealedValue, "record-1"));

        // After a key rotation the old key still opens what it sealed.
        Assert.Equal("s3cret-password", new SecretBox(keys, "k2").Decrypt(sealedValue, "record-1"));
        Assert.Throws<InvalidOperationException>(() => new SecretBox(new Dictionary<string, byte[]> { ["k"] = new byte[16] }, "k"));
    }

    [Fact]
    public void Webhook_signatures_check_body_secret_and_age()
    {
        var body = Encoding.UTF8.GetBytes("""{"account":"a","pack":"p"}""");
        var t = _clock.GetUtcNow().ToUnixTimeSeconds();
        var header = $"t={t},v1={PaymentWebhook.Sign("whsec", t, body)}";
        var tolerance = TimeSpan.FromMinutes(5);

        Assert.True(PaymentWebhook.Verify(header, "whsec", body, _clock.GetUtcNow(), tolerance));
        Assert.True(PaymentWebhook.Verify(header.ToUpperInvariant().Replace("T=", "t=", StringComparison.Ordinal).Replace("V1=", "v1=", StringComparison.Ordinal),
            "whsec", body, _clock.GetUtcNow(), tolerance)); // hex case does not matter
        Assert.False(PaymentWebhook.Verify(header, "other", body, _clock.GetUtcNow(), tolerance));
        Assert.False(PaymentWebhook.Verify(header, "whsec", [.. body, (byte)' '], _clock.GetUtcNow(), tolerance));
        Assert.False(PaymentWebhook.Verify($"t={t}", "whsec", body, _clock.GetUtcNow(), tolerance));
        Assert.False(PaymentWebhook.Verify("garbage", "whsec", body, _clock.GetUtcNow(), tolerance));

        var later = new FakeTimeProvider(_clock.GetUtcNow());
        later.Advance(tolerance);
        Assert.True(PaymentWebhook.Verify(header, "whsec", body, later.GetUtcNow(), tolerance));   // at the edge: accepted
        later.Advance(TimeSpan.FromSeconds(1));
        Assert.False(PaymentWebhook.Verify(header, "whsec", body, later.GetUtcNow(), tolerance));  // one second late: replay refused
    }
}

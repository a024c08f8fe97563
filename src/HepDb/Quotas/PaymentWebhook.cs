using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using Microsoft.Extensions.Options;

namespace HepDb.Quotas;

public sealed class PaymentsOptions
{
    public const string Section = "Payments";

    /// <summary>The secret shared with the payment provider. Empty (default) turns the webhook off.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>How far a signature's timestamp may be from now. Default 5 minutes.</summary>
    public TimeSpan Tolerance { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// <c>POST /webhooks/payments</c>: a payment provider grants a pack. The header
/// <c>HepDb-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}.{raw body}")}</c> authenticates the exact bytes
/// received; the timestamp must be within the tolerance (replay protection) and the event id makes delivery idempotent.
/// Body: <c>{"id":"evt_…","type":"pack.purchased","account":"&lt;account id or email&gt;","pack":"db-pack"}</c>.
/// </summary>
public static class PaymentWebhook
{
    public const string SignatureHeader = "HepDb-Signature";

    public static void MapPaymentWebhook(this IEndpointRouteBuilder app) =>
        app.MapPost("/webhooks/payments", HandleAsync).ExcludeFromDescription();

    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{timestamp.ToString(CultureInfo.InvariantCulture)}.");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    public static async Task<IResult> HandleAsync(HttpContext http, IOptions<PaymentsOptions> options, AccountService accounts,
        PackService packs, TimeProvider time, CancellationToken ct)
    {
        var secret = options.Value.WebhookSecret;
        if (string.IsNullOrEmpty(secret)) return ApiEnvelope.Fail(ApiErrors.NotFound);
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, ct);
        if (buffer.Length > 64 * 1024) return ApiEnvelope.Fail(ApiErrors.BodyTooLarge);
        var body = buffer.ToArray();

        if (!Verify(http.Request.Headers[SignatureHeader].ToString(), secret, body, time.GetUtcNow(), options.Value.Tolerance))
            return ApiEnvelope.Fail(ApiErrors.BadSignature);

        string? id, type, accountRef, packId;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            id = root.GetProperty("id").GetString();
            type = root.GetProperty("type").GetString();
            accountRef = root.GetProperty("account").GetString();
            packId = root.GetProperty("pack").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return ApiEnvelope.Fail(ApiErrors.InvalidBody("Expected {\"id\",\"type\",\"account\",\"pack\"}."));
        }
        if (type != "pack.purchased" || string.IsNullOrEmpty(id) || string.IsNullOrEmpty(packId) || string.IsNullOrEmpty(accountRef))
            return ApiEnvelope.Fail(ApiErrors.InvalidBody("Unsupported event type or missing fields."));
        var account = await accounts.FindAsync(accountRef, ct);
        if (account is null) return ApiEnvelope.Fail(ApiErrors.UnknownAccount);
        var grant = await packs.GrantAsync(account.Id, packId, "webhook", id, new Actor("webhook", ClientAddress.Of(http)), ct);
        return grant.Ok ? ApiEnvelope.Ok(new PackGranted(grant.Value!.Id, Databases.DatabaseView.Iso(grant.Value.ExpiresAt)))
            : ApiEnvelope.Fail(grant.Problem!);
    }

    /// <summary>Constant-time check of <c>t=…,v1=…</c> against the body, with the timestamp inside the tolerance.</summary>
    public static bool Verify(string header, string secret, byte[] body, DateTimeOffset now, TimeSpan tolerance)
    {
        long? t = null;
        string? v1 = null;
        foreach (var part in header.Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.StartsWith("t=", StringComparison.Ordinal) && long.TryParse(part[2..], NumberStyles.None, CultureInfo.InvariantCulture, out var ts)) t = ts;
            else if (part.StartsWith("v1=", StringComparison.Ordinal)) v1 = part[3..];
        }
        if (t is null || v1 is null || v1.Length != 64) return false;
        if (Math.Abs(now.ToUnixTimeSeconds() - t.Value) > tolerance.TotalSeconds) return false;
        var expected = Encoding.ASCII.GetBytes(Sign(secret, t.Value, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(v1.ToLowerInvariant()));
    }
}

/// <summary>The webhook's answer to a granted pack.</summary>
public sealed record PackGranted(string Grant, string ExpiresAt);

using HepDb.Api;
using HepDb.Databases;

namespace HepDb.Backups;

/// <summary>A backup as the API shows it (SPEC §3b): no file names, keys or errors.</summary>
public sealed record BackupView(string Id, string CreatedAt, long SizeBytes, string Kind, string Status)
{
    public static BackupView From(Backup b) => new(b.Id, DatabaseView.Iso(b.CreatedAt), b.SizeBytes, b.Kind.WireName(), b.Status.WireName());
}

/// <summary>The backup endpoints of the management API (SPEC §3b), under <c>/api/v1/db</c> with its envelope, keys and
/// rate limits: list, take, download, restore.</summary>
public static class BackupEndpoints
{
    public sealed record BackupList(IReadOnlyList<BackupView> Backups);
    public sealed record BackupCreated(BackupView Backup);
    public sealed record BackupRestored(DatabaseView Database);

    public static void MapBackupApi(this RouteGroupBuilder api)
    {
        api.MapGet("/databases/{id}/backups", ListAsync)
            .Produces<ApiEnvelope.Success<BackupList>>().Fails(404)
            .WithSummary("List a database's backups, newest first.");
        api.MapPost("/databases/{id}/backups", CreateAsync)
            .Produces<ApiEnvelope.Success<BackupCreated>>(201).Fails(400, 403, 404, 409, 415, 503)
            .WithSummary("Take a backup now; answers once it is complete. Limited per database per day by the plan.");
        api.MapGet("/databases/{id}/backups/{backupId}/download", DownloadAsync)
            .Produces(200, contentType: "application/octet-stream").Fails(403, 404)
            .WithSummary("Download a backup: the engine's own dump (MariaDB .sql.gz, PostgreSQL pg_dump custom format), streamed.");
        api.MapPost("/databases/{id}/backups/{backupId}/restore", RestoreAsync)
            .Produces<ApiEnvelope.Success<BackupRestored>>().Fails(400, 403, 404, 409, 415, 503)
            .WithSummary("Replace the database's contents with a backup; answers once restored. Writes are refused meanwhile.");

        api.MapMethods("/databases/{id}/backups", ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => DatabaseEndpoints.NotAllowed(h, "GET, POST", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}/backups/{backupId}/download", ["HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => DatabaseEndpoints.NotAllowed(h, "GET", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
        api.MapMethods("/databases/{id}/backups/{backupId}/restore", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"], (HttpContext h) => DatabaseEndpoints.NotAllowed(h, "POST", ApiErrors.MethodNotAllowed)).ExcludeFromDescription();
    }

    public static async Task<IResult> ListAsync(ApiCaller caller, string id, BackupService backups, CancellationToken ct)
    {
        var listed = await backups.ListAsync(caller.AccountId, id, ct);
        return listed.Ok ? ApiEnvelope.Ok(new BackupList(listed.Value!.Select(BackupView.From).ToList())) : ApiEnvelope.Fail(listed.Problem!);
    }

    public static async Task<IResult> CreateAsync(HttpContext http, ApiCaller caller, string id, BackupService backups, CancellationToken ct)
    {
        if (JsonBody.UnsupportedBody(http.Request) is { } unsupported) return ApiEnvelope.Fail(unsupported);
        var taken = await backups.CreateAsync(caller.AccountId, id, caller.Actor, ct);
        return taken.Ok ? ApiEnvelope.Ok(new BackupCreated(BackupView.From(taken.Value!)), StatusCodes.Status201Created) : ApiEnvelope.Fail(taken.Problem!);
    }

    public static async Task<IResult> DownloadAsync(HttpContext http, ApiCaller caller, string id, string backupId, BackupService backups, CancellationToken ct)
    {
        http.Response.Headers.CacheControl = "no-store";
        var download = await backups.OpenDownloadAsync(caller.AccountId, id, backupId, caller.Actor, ct);
        if (!download.Ok) return ApiEnvelope.Fail(download.Problem!);
        return Results.Stream(download.Value!.Content, download.Value.ContentType, download.Value.Backup.DownloadName);
    }

    public static async Task<IResult> RestoreAsync(HttpContext http, ApiCaller caller, string id, string backupId, BackupService backups, CancellationToken ct)
    {
        if (JsonBody.UnsupportedBody(http.Request) is { } unsupported) return ApiEnvelope.Fail(unsupported);
        var restored = await backups.RestoreAsync(caller.AccountId, id, backupId, caller.Actor, ct);
        return restored.Ok ? ApiEnvelope.Ok(new BackupRestored(DatabaseView.From(restored.Value!))) : ApiEnvelope.Fail(restored.Problem!);
    }
}

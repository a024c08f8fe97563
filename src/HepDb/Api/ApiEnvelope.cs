using System.Text.Json;
using System.Text.Json.Serialization;

namespace HepDb.Api;

/// <summary>The API envelope of SPEC §3: <c>{"ok":true,"data":…}</c> or <c>{"ok":false,"error":…,"code":…}</c>.</summary>
public static class ApiEnvelope
{
    /// <summary>Source-generated (<see cref="ApiJson"/>): the answers are written without reflection, which the list,
    /// the hottest path, feels.</summary>
    public static readonly JsonSerializerOptions Json = ApiJson.Default.Options;

    public sealed record Success<T>(bool Ok, T Data);
    public sealed record Failure(bool Ok, string Error, string Code);

    public static IResult Ok<T>(T data, int status = StatusCodes.Status200OK) =>
        Results.Json(new Success<T>(true, data), Json, statusCode: status);

    public static IResult Fail(Problem problem) =>
        Results.Json(new Failure(false, problem.Message, problem.Code), Json, statusCode: problem.Status);

    public static Task WriteAsync(HttpContext http, Problem problem)
    {
        http.Response.StatusCode = problem.Status;
        return http.Response.WriteAsJsonAsync(new Failure(false, problem.Message, problem.Code), Json);
    }

    public static bool IsApiPath(PathString path) => path.StartsWithSegments("/api");
}

/// <summary>Every body the API and the payment webhook answer with, in the web defaults (camelCase).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ApiEnvelope.Success<Databases.DatabaseEndpoints.ListResponse>))]
[JsonSerializable(typeof(ApiEnvelope.Success<Databases.DatabaseAccess>))]
[JsonSerializable(typeof(ApiEnvelope.Success<Quotas.PackGranted>))]
[JsonSerializable(typeof(ApiEnvelope.Success<Backups.BackupEndpoints.BackupList>))]
[JsonSerializable(typeof(ApiEnvelope.Success<Backups.BackupEndpoints.BackupCreated>))]
[JsonSerializable(typeof(ApiEnvelope.Success<Backups.BackupEndpoints.BackupRestored>))]
[JsonSerializable(typeof(ApiEnvelope.Success<Allowlists.AllowlistEndpoints.Allowlist>))]
[JsonSerializable(typeof(ApiEnvelope.Failure))]
internal sealed partial class ApiJson : JsonSerializerContext;

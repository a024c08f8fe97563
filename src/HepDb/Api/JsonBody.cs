using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace HepDb.Api;

/// <summary>Reads a small JSON-object body the way curl users expect, refusing everything else with the SPEC code.</summary>
public static class JsonBody
{
    public const int MaxBytes = 16 * 1024;

    /// <summary>
    /// Accepts <c>application/json</c> (any charset), no Content-Type, and <c>application/x-www-form-urlencoded</c>
    /// (what <c>curl -d</c> sends without <c>-H</c>) when the body parses as a JSON object. Returns the top-level
    /// properties; duplicate properties are refused, since which one wins is ambiguous.
    /// </summary>
    public static async Task<Outcome<Dictionary<string, JsonElement>>> ReadObjectAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxBytes) return ApiErrors.BodyTooLarge;
        var media = MediaType(request);
        if (media == Media.Other) return ApiErrors.UnsupportedMediaType;
        var form = media == Media.Form;

        var buffer = new byte[MaxBytes + 1];
        var length = 0;
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(buffer.AsMemory(length), ct)) > 0)
            {
                length += read;
                if (length > MaxBytes) return ApiErrors.BodyTooLarge;
            }
        }
        catch (BadHttpRequestException)
        {
            // Kestrel's verdict on the transfer itself: the bytes Content-Length promised stopped coming (below the
            // minimum data rate) or ended early. An incomplete body is not a JSON object, and nothing was read from it.
            return ApiErrors.InvalidBody("The body was cut short or arrived too slowly; send the whole body at once.");
        }

        try
        {
            using var doc = JsonDocument.Parse(buffer.AsMemory(0, length), new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return form ? ApiErrors.UnsupportedMediaType : ApiErrors.InvalidBody("The body must be a JSON object.");
            var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                // Names and string values are decoded here, once, so text that is not Unicode (an unpaired surrogate,
                // escaped or as raw bytes) is refused before anything reads it.
                if (p.Value.ValueKind == JsonValueKind.String) p.Value.GetString();
                if (!fields.TryAdd(p.Name, p.Value.Clone())) return ApiErrors.InvalidBody($"The field \"{Printable(p.Name)}\" appears more than once.");
            }
            return fields;
        }
        catch (JsonException)
        {
            // The form type is only tolerated for curl's sake when the body is JSON; a real form body is not JSON.
            if (form) return ApiErrors.UnsupportedMediaType;
            return ApiErrors.InvalidBody(length == 0 ? "The body must be a JSON object." : "The body is not valid JSON.");
        }
        catch (InvalidOperationException)
        {
            return ApiErrors.InvalidBody("The body has a string that is not valid Unicode (an unpaired surrogate).");
        }
    }

    /// <summary>UNSUPPORTED_MEDIA_TYPE when a request that carries a body labels it with a non-JSON Content-Type; for
    /// endpoints that take no fields but must refuse what create refuses.</summary>
    public static Problem? UnsupportedBody(HttpRequest request) =>
        request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true && MediaType(request) == Media.Other
            ? ApiErrors.UnsupportedMediaType
            : null;

    private enum Media { Json, Form, Other }

    /// <summary>JSON is <c>application/json</c>, <c>application/*+json</c> or no Content-Type at all; the form type is
    /// what <c>curl -d</c> sends without <c>-H</c>.</summary>
    private static Media MediaType(HttpRequest request)
    {
        if (string.IsNullOrEmpty(request.ContentType)) return Media.Json;
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media)) return Media.Other;
        var type = media.MediaType.Value?.ToLowerInvariant();
        if (type is "application/json" || (type?.StartsWith("application/", StringComparison.Ordinal) == true && type.EndsWith("+json", StringComparison.Ordinal)))
            return Media.Json;
        return type == "application/x-www-form-urlencoded" ? Media.Form : Media.Other;
    }

    /// <summary>Reads an optional string field: absent or null gives null; any other non-string is INVALID_BODY.</summary>
    public static Outcome<string?> OptionalString(Dictionary<string, JsonElement> fields, string name)
    {
        if (!fields.TryGetValue(name, out var value) || value.ValueKind == JsonValueKind.Null) return new Outcome<string?>(null, null);
        return value.ValueKind == JsonValueKind.String
            ? new Outcome<string?>(value.GetString(), null)
            : ApiErrors.InvalidBody($"The field \"{name}\" must be a string.");
    }

    private static string Printable(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s.Take(40)) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }
}

using System.Text.Json;

namespace Bridge.Compiler;

/// <summary>Serializes a <see cref="CompileResult"/> to the JSON the Python side reads (no reflection).</summary>
/// <remarks>Stateless; thread-safe.</remarks>
public static class ResultJson
{
    /// <summary>The UTF-8 JSON object for <paramref name="result"/> (without the image).</summary>
    /// <param name="result">The compile result.</param>
    /// <param name="elapsedMs">Wall time of the compilation, reported as <c>elapsed_ms</c>.</param>
    /// <returns>The JSON bytes.</returns>
    public static byte[] Write(CompileResult result, double elapsedMs)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteBoolean("success", result.Success);
            w.WriteNumber("elapsed_ms", Math.Round(elapsedMs, 1));
            w.WriteStartArray("diagnostics");
            foreach (var d in result.Diagnostics)
            {
                w.WriteStartObject();
                w.WriteString("id", d.Id);
                w.WriteString("severity", d.Severity);
                w.WriteString("message", d.Message);
                w.WriteNumber("line", d.Line);
                w.WriteNumber("column", d.Column);
                w.WriteNumber("end_line", d.EndLine);
                w.WriteNumber("end_column", d.EndColumn);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("types");
            foreach (var t in result.Types)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteStartArray("methods");
                foreach (var m in t.Methods)
                    w.WriteStringValue(m);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Bridge.Protocol;
using Bridge.Values;

namespace Bridge.Tests;

/// <summary>
/// The golden vectors of tests/vectors/frames.json (shared with the Python suite): decoding each
/// frame's hex gives its value, and encoding the value gives the hex, byte for byte.
/// </summary>
/// <remarks>
/// In "value": bins are <c>{"$bin": hex}</c>, exts <c>{"$ext": [type, hex]}</c>, integers beyond 64
/// bits <c>{"$int": "decimal"}</c>, floats JSON numbers with a '.' or an exponent, maps JSON objects.
/// Regenerate with <c>.venv/bin/python tests/vectors/make_frames.py</c>.
/// </remarks>
[Parallelizable(ParallelScope.All)]
public class VectorsTests
{
    private static readonly string VectorsPath = Path.Combine(WorkerProcess.RepoRoot, "tests", "vectors", "frames.json");

    public static IEnumerable<TestCaseData> Vectors()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(VectorsPath));
        foreach (var v in doc.RootElement.EnumerateArray())
        {
            yield return new TestCaseData(v.GetProperty("hex").GetString()!, v.GetProperty("value").GetRawText())
                .SetName("Vector_" + v.GetProperty("name").GetString());
        }
    }

    [Test]
    public void The_vectors_cover_every_frame_kind_and_value_kind()
    {
        var names = Vectors().Select(t => t.TestName!).ToList();
        var kinds = Vectors().Select(t => JsonDocument.Parse((string)t.Arguments[1]!).RootElement[0].GetInt32()).ToHashSet();
        Assert.Multiple(() =>
        {
            Assert.That(kinds, Is.EquivalentTo(new[] { 1, 2, 3, 4, 5, 6, 7 }));
            Assert.That(names, Has.Count.GreaterThanOrEqualTo(20));
            Assert.That(File.ReadAllText(VectorsPath), Does.Contain("\"$int\"").And.Contain("\"$ext\"").And.Contain("\"$bin\""));
        });
    }

    [TestCaseSource(nameof(Vectors))]
    public void Decoding_gives_the_value_and_encoding_gives_the_hex(string hex, string valueJson)
    {
        var bytes = Convert.FromHexString(hex);
        using var doc = JsonDocument.Parse(valueJson);
        var expected = doc.RootElement;

        uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        Assert.That(length, Is.EqualTo(bytes.Length - 4), "length prefix");
        var body = bytes.AsMemory(4);

        // The pool's envelope decoder accepts it and reads the same kind.
        var frame = Frame.Decode(body);
        Assert.That((int)frame.Kind, Is.EqualTo(expected[0].GetInt32()));

        // Decoding: the untyped graph matches the JSON value.
        var decoded = MsgPackValues.DeserializeObject(body);
        AssertMatches(decoded, expected, "$");

        // Encoding: the JSON value, as .NET objects, packs to the same bytes.
        var encoded = MsgPackValues.Serialize(FromJson(expected));
        var framed = new byte[4 + encoded.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed, (uint)encoded.Length);
        encoded.CopyTo(framed, 4);
        Assert.That(Convert.ToHexString(framed).ToLowerInvariant(), Is.EqualTo(hex));
    }

    private static bool IsFloat(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Contains('.') || raw.Contains('e') || raw.Contains('E');
    }

    /// <summary>The .NET value the JSON form stands for (what a sender would pass to the codec).</summary>
    private static object? FromJson(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Number:
                if (IsFloat(e))
                {
                    return e.GetDouble();
                }
                return e.TryGetInt64(out long l) ? l : e.GetUInt64();
            case JsonValueKind.Array:
                return e.EnumerateArray().Select(FromJson).ToArray();
            default:
                if (Special(e, "$bin") is { } bin)
                {
                    return Convert.FromHexString(bin.GetString()!);
                }
                if (Special(e, "$int") is { } big)
                {
                    return BigInteger.Parse(big.GetString()!, CultureInfo.InvariantCulture);
                }
                if (Special(e, "$ext") is { } ext)
                {
                    Assert.That(ext[0].GetInt32(), Is.EqualTo(2), "only ext 2 appears raw in the vectors");
                    return DType.Decode(new System.Buffers.ReadOnlySequence<byte>(Convert.FromHexString(ext[1].GetString()!)));
                }
                var map = new Dictionary<object, object?>();
                foreach (var p in e.EnumerateObject())
                {
                    map[p.Name] = FromJson(p.Value);
                }
                return map;
        }
    }

    private static JsonElement? Special(JsonElement e, string key)
    {
        if (e.ValueKind == JsonValueKind.Object && e.EnumerateObject().Count() == 1 && e.TryGetProperty(key, out var v))
        {
            return v;
        }
        return null;
    }

    private static void AssertMatches(object? actual, JsonElement expected, string path)
    {
        switch (expected.ValueKind)
        {
            case JsonValueKind.Null:
                Assert.That(actual, Is.Null, path);
                return;
            case JsonValueKind.True:
            case JsonValueKind.False:
                Assert.That(actual, Is.EqualTo(expected.GetBoolean()), path);
                return;
            case JsonValueKind.String:
                Assert.That(actual, Is.EqualTo(expected.GetString()), path);
                return;
            case JsonValueKind.Number:
                if (IsFloat(expected))
                {
                    Assert.That(actual, Is.TypeOf<double>(), path);
                    Assert.That(BitConverter.DoubleToInt64Bits((double)actual!), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected.GetDouble())), path);
                }
                else if (expected.TryGetInt64(out long l))
                {
                    Assert.That(actual, Is.TypeOf<long>().And.EqualTo(l), path);
                }
                else
                {
                    Assert.That(actual, Is.TypeOf<ulong>().And.EqualTo(expected.GetUInt64()), path);
                }
                return;
            case JsonValueKind.Array:
                Assert.That(actual, Is.TypeOf<object?[]>(), path);
                var items = (object?[])actual!;
                Assert.That(items, Has.Length.EqualTo(expected.GetArrayLength()), path);
                int i = 0;
                foreach (var item in expected.EnumerateArray())
                {
                    AssertMatches(items[i], item, $"{path}[{i}]");
                    i++;
                }
                return;
        }
        if (Special(expected, "$bin") is { } bin)
        {
            Assert.That(actual, Is.TypeOf<byte[]>().And.EqualTo(Convert.FromHexString(bin.GetString()!)), path);
            return;
        }
        if (Special(expected, "$int") is { } big)
        {
            Assert.That(actual, Is.TypeOf<BigInteger>().And.EqualTo(BigInteger.Parse(big.GetString()!, CultureInfo.InvariantCulture)), path);
            return;
        }
        if (Special(expected, "$ext") is { } ext)
        {
            Assert.That(ext[0].GetInt32(), Is.EqualTo(2), path);
            Assert.That(actual, Is.InstanceOf<Array>(), path);
            // The decoded primitive array re-encodes to exactly the ext body.
            var packed = MsgPackValues.Serialize(actual);
            var body = Convert.FromHexString(ext[1].GetString()!);
            Assert.That(packed.AsSpan(packed.Length - body.Length).ToArray(), Is.EqualTo(body), path);
            Assert.That(((Array)actual!).Length * Math.Max(1, DType.Size(body[0])), Is.EqualTo(body.Length - 1), path);
            return;
        }
        Assert.That(actual, Is.TypeOf<Dictionary<object, object?>>(), path);
        var map = (Dictionary<object, object?>)actual!;
        Assert.That(map, Has.Count.EqualTo(expected.EnumerateObject().Count()), path);
        foreach (var p in expected.EnumerateObject())
        {
            Assert.That(map.ContainsKey(p.Name), Is.True, $"{path}: key {p.Name}");
            AssertMatches(map[p.Name], p.Value, $"{path}[\"{p.Name}\"]");
        }
    }
}

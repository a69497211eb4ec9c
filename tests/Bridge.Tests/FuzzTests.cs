using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using Bridge.Protocol;
using Bridge.Values;
using MessagePack;

namespace Bridge.Tests;

/// <summary>
/// Property test of the C# frame and value decoders (helper "faults", tests/faults): random
/// and mutated frames built from the golden vectors (tests/vectors/frames.json), fixed seed,
/// bounded count. Every outcome is a frame, "not whole yet", or a <see cref="ProtocolException"/>
/// (values: the documented decode exceptions) - never another exception, a hang or a huge allocation.
/// </summary>
[Parallelizable(ParallelScope.All)]
public class FuzzTests
{
    private static readonly string VectorsPath = Path.Combine(WorkerProcess.RepoRoot, "tests", "vectors", "frames.json");

    private static List<byte[]> Vectors()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(VectorsPath));
        return doc.RootElement.EnumerateArray().Select(v => Convert.FromHexString(v.GetProperty("hex").GetString()!)).ToList();
    }

    private static readonly byte[][] Claims =
    {
        new byte[] { 0xdd, 0xff, 0xff, 0xff, 0xff },          // array32 of 4 G elements
        new byte[] { 0xdf, 0xff, 0xff, 0xff, 0xff },          // map32 of 4 G pairs
        new byte[] { 0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61 },    // str32 of 4 GB
        new byte[] { 0xc6, 0xff, 0xff, 0xff, 0xf0 },          // bin32 of 4 GB
        new byte[] { 0xc9, 0x7f, 0xff, 0xff, 0xff, 0x02 },    // ext32 of 2 GB
    };

    private static byte[] Mutate(Random rng, byte[] data)
    {
        var b = new List<byte>(data);
        switch (rng.Next(6))
        {
            case 0:
                for (int i = rng.Next(1, 5); i > 0; i--)
                    b[rng.Next(b.Count)] = (byte)rng.Next(256);
                break;
            case 1 when b.Count > 5:
                b = b.Take(rng.Next(4, b.Count)).ToList();
                if (rng.Next(2) == 0)
                    SetLength(b);
                break;
            case 2:
                for (int i = rng.Next(1, 17); i > 0; i--)
                    b.Add((byte)rng.Next(256));
                SetLength(b);
                break;
            case 3:
                uint[] lengths = { 0, uint.MaxValue, 1u << 31, (1u << 30) + 1 };
                var h = new byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(h, lengths[rng.Next(lengths.Length)]);
                for (int i = 0; i < 4; i++)
                    b[i] = h[i];
                break;
            case 4:
                b = new List<byte> { 0, 0, 0, 0 };
                for (int i = rng.Next(1, 41); i > 0; i--)
                    b.Add((byte)rng.Next(256));
                SetLength(b);
                break;
            default:
                b = new List<byte> { 0, 0, 0, 0 };
                if (rng.Next(4) == 0)
                {
                    for (int i = 0; i < 200; i++)
                        b.Add(0x91);  // nesting far beyond the depth limit
                    b.Add(0x01);
                }
                else
                {
                    b.Add(0x95);  // a frame array whose later element claims a huge size
                    b.Add(0x03);
                    b.Add(0x07);
                    b.AddRange(Claims[rng.Next(Claims.Length)]);
                }
                SetLength(b);
                break;
        }
        return b.ToArray();
    }

    private static void SetLength(List<byte> b)
    {
        var h = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(h, (uint)Math.Max(1, b.Count - 4));
        for (int i = 0; i < 4; i++)
            b[i] = h[i];
    }

    [Test]
    [CancelAfter(60_000)]
    public void Mutated_frames_are_protocol_errors_never_crashes()
    {
        var rng = new Random(5);
        var vectors = Vectors();
        int protocolErrors = 0, decoded = 0, incomplete = 0;
        var crashes = new List<string>();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        for (int i = 0; i < 5000; i++)
        {
            byte[] data = Mutate(rng, vectors[rng.Next(vectors.Count)]);
            var seq = new ReadOnlySequence<byte>(data);
            try
            {
                if (Frame.TryReadFrame(ref seq, 1 << 20, out var frame))
                {
                    decoded++;
                    if ((frame.Kind is FrameKind.Task or FrameKind.Result) && !frame.Payload.IsEmpty)
                        DecodeValues(frame.Payload);
                }
                else
                {
                    incomplete++;
                }
            }
            catch (ProtocolException)
            {
                protocolErrors++;
            }
            catch (Exception e) when (crashes.Count < 1000)  // recorded: any other exception is a decoder bug
            {
                crashes.Add($"{Convert.ToHexString(data)}: {e.GetType().Name}: {e.Message}");
            }
        }
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
        Assert.Multiple(() =>
        {
            Assert.That(crashes, Is.Empty, "bad frames that were not ProtocolExceptions");
            Assert.That(protocolErrors, Is.GreaterThan(1000), "the mutations reach the checks");
            Assert.That(decoded + incomplete, Is.GreaterThan(0));
            // no allocation sized by a claimed length (4 GB claims, 1 GiB headers): bounded by the input
            Assert.That(allocated, Is.LessThan(512L << 20), "decoding 5000 small frames allocated too much");
        });
    }

    private static void DecodeValues(ReadOnlyMemory<byte> payload)
    {
        try
        {
            MsgPackValues.DeserializeObject(payload);
        }
        catch (ValueConversionException)
        {
            // documented: unsupported ext, too deep, trailing bytes
        }
        catch (MessagePackSerializationException)
        {
            // documented: not well-formed MessagePack
        }
        catch (EndOfStreamException)
        {
            // documented: the data ends inside the value
        }
    }

    [Test]
    public void Frame_length_above_the_limit_is_refused_from_the_header()
    {
        var header = new byte[] { 0x40, 0x00, 0x00, 0x01 };  // 1 GiB + 1
        var seq = new ReadOnlySequence<byte>(header);
        Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref seq, ProtocolLimits.DefaultMaxFrameBytes, out _));
        seq = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0, 0 });
        Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref seq, ProtocolLimits.DefaultMaxFrameBytes, out _));
    }

    [Test]
    public void Nesting_beyond_the_depth_limit_is_a_protocol_error()
    {
        var body = Enumerable.Repeat((byte)0x91, 200).Append((byte)0x01).ToArray();
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        var seq = new ReadOnlySequence<byte>(frame);
        Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref seq, 1 << 20, out _));
    }

    /// <summary>A str/bin/ext claiming 4 GB made MessagePackReader throw ArgumentOutOfRangeException
    /// out of Frame.Decode (not a ProtocolException, so not a clean per-connection error).</summary>
    [TestCase("00000009950307DBFFFFFFF061")]
    [TestCase("00000008950307C6FFFFFFF0")]
    [TestCase("00000009950307C9FFFFFFF002")]
    public void Huge_length_claim_is_a_protocol_error_issue5(string hex)
    {
        var seq = new ReadOnlySequence<byte>(Convert.FromHexString(hex));
        Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref seq, 1 << 20, out _));
    }
}

// Design notes
// ------------
// Items on a multiprocessing Queue pipe are pickles (Lib/multiprocessing/queues.py: _ForkingPickler.dumps
// in the feeder thread, loads in get). So .NET code that shares a dotbridge.Queue (SharedQueue) reads and
// writes the pickles of *plain values*, and nothing else:
//
//   Python               opcodes read                                    .NET (untyped graph)
//   None                 NONE                                            null
//   bool                 NEWTRUE NEWFALSE                                bool
//   int                  BININT1 BININT2 BININT LONG1 LONG4              long, or BigInteger beyond 64 bits
//   float                BINFLOAT                                        double
//   str                  SHORT_BINUNICODE BINUNICODE BINUNICODE8         string (UTF-8, lone surrogates kept)
//   bytes (bytearray)    SHORT_BINBYTES BINBYTES BINBYTES8 (BYTEARRAY8)  byte[]
//   list                 EMPTY_LIST APPEND APPENDS LIST                  List<object?>
//   tuple                EMPTY_TUPLE TUPLE1-3 TUPLE                      PickleTuple
//   dict                 EMPTY_DICT SETITEM SETITEMS DICT                Dictionary<object, object?>
//   framing/stack/memo   PROTO FRAME STOP MARK POP POP_MARK DUP MEMOIZE BINPUT LONG_BINPUT BINGET LONG_BINGET
//
// That is every opcode the pickler emits for those values at protocols 2-5 (Python 3.11 uses 4; 3.14 uses 5).
// Everything else is refused *before anything is built from it*: GLOBAL/STACK_GLOBAL (a class or function
// reference: the message names it, e.g. builtins.complex or collections.OrderedDict), and with it REDUCE,
// BUILD, NEWOBJ…, sets, extension codes, persistent ids, out-of-band buffers, the text opcodes of protocols
// 0-1. No code is ever run, no type is ever looked up: the reader is a stack machine over the table above.
// Limits: every length is checked against the bytes left (no allocation beyond the input's size); the reader
// never recurses (100,000 nested lists read fine); tuples may nest MaxTupleDepth deep (their equality and
// hashing recurse) and hash once. A fuzz test checks that damaged pickles throw PickleFormatException only.
//
// Writing emits PROTO 4 and the same opcodes (no FRAME: framing is optional; no memo), which every Python 3.4+
// pickle.loads reads. .NET → Python: null, bool, every integer type and BigInteger, float/double, string/char,
// byte[]/Memory<byte>/ArraySegment<byte>, IDictionary (dict), ITuple (tuple: ValueTuple, Tuple, PickleTuple),
// any other IEnumerable (list), an enum (its integer).
using System.Buffers;
using System.Buffers.Binary;
using System.Collections;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Bridge.Connections;

/// <summary>
/// A safe codec for the pickles of plain Python values (None, bool, int, float, str, bytes, list, tuple,
/// dict): what .NET needs to share a <c>multiprocessing</c> queue with Python (<see cref="SharedQueue"/>).
/// </summary>
/// <remarks>
/// <para>Reading never runs code and never resolves a type: a pickle of anything else (an instance of a
/// class, a set, a <c>complex</c>, …) throws <see cref="PickleFormatException"/> naming the type.</para>
/// <para>Untyped graphs: <c>null</c>, <see cref="bool"/>, <see cref="long"/> (or <see cref="BigInteger"/>),
/// <see cref="double"/>, <see cref="string"/>, <c>byte[]</c>, <c>List&lt;object?&gt;</c> (list),
/// <see cref="PickleTuple"/> (tuple), <c>Dictionary&lt;object, object?&gt;</c> (dict). Typed reads convert that
/// graph by the rules of Bridge/CONVERSIONS.md (as a MessagePack value would be).</para>
/// <para>All members are thread-safe.</para>
/// </remarks>
public static class PickleValues
{
    /// <summary>The protocol <see cref="Serialize"/> writes (readable by Python 3.4 and later).</summary>
    public const int Protocol = 4;

    /// <summary>The default nesting limit of <see cref="Serialize"/> (a deeper .NET graph, a cycle say, is refused).</summary>
    public const int DefaultMaxDepth = 256;

    /// <summary>How deep tuples may nest in a pickle that is read (their equality and hashing recurse; lists and dicts do not).</summary>
    public const int MaxTupleDepth = 1000;

    private const int BatchSize = 1000; // as pickle.py's _BATCHSIZE

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The pickle of <paramref name="value"/> (see the class remarks for the types).</summary>
    /// <exception cref="ValueConversionException">The value, or something inside it, has no pickle here, or it nests deeper than <paramref name="maxDepth"/>.</exception>
    public static byte[] Serialize(object? value, int maxDepth = DefaultMaxDepth)
    {
        var w = new ArrayBufferWriter<byte>(64);
        Put(w, 0x80);
        Put(w, Protocol);
        WriteValue(w, value, maxDepth);
        Put(w, (byte)'.');
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Reads a pickle as an untyped graph.</summary>
    /// <exception cref="PickleFormatException">The pickle holds something other than plain values (the message and <see cref="PickleFormatException.PythonType"/> name it), or it is malformed.</exception>
    public static object? DeserializeObject(ReadOnlySpan<byte> data) => new Reader().Run(data);

    /// <summary>Reads a pickle converted to <typeparamref name="T"/> (<c>object</c>: the untyped graph).</summary>
    /// <exception cref="PickleFormatException">Not a pickle of plain values.</exception>
    /// <exception cref="ValueConversionException">The value does not convert to <typeparamref name="T"/>.</exception>
    public static T Deserialize<T>(ReadOnlySpan<byte> data) => Convert<T>(DeserializeObject(data));

    /// <summary>Converts an untyped graph (as <see cref="DeserializeObject"/> returns) to <typeparamref name="T"/>.</summary>
    /// <exception cref="ValueConversionException">The value does not convert to <typeparamref name="T"/>.</exception>
    public static T Convert<T>(object? graph)
    {
        if (typeof(T) == typeof(object))
        {
            return (T)graph!;
        }
        // One set of conversion rules for every value crossing into .NET: the MessagePack converters'.
        return MsgPackValues.Deserialize<T>(MsgPackValues.Serialize(graph));
    }

    // ---- writing ---------------------------------------------------------------------------------

    private static void Put(ArrayBufferWriter<byte> w, int b)
    {
        w.GetSpan(1)[0] = (byte)b;
        w.Advance(1);
    }

    private static void Put(ArrayBufferWriter<byte> w, ReadOnlySpan<byte> bytes) => w.Write(bytes);

    private static void WriteValue(ArrayBufferWriter<byte> w, object? value, int depth)
    {
        switch (value)
        {
            case null:
                Put(w, (byte)'N');
                return;
            case bool b:
                Put(w, b ? 0x88 : 0x89);
                return;
            case long l:
                WriteInt(w, l);
                return;
            case int i:
                WriteInt(w, i);
                return;
            case double d:
                WriteFloat(w, d);
                return;
            case string s:
                WriteStr(w, s);
                return;
            case byte[] bytes when value.GetType() == typeof(byte[]):
                WriteBytes(w, bytes);
                return;
            case short or sbyte or byte or ushort or uint:
                WriteInt(w, System.Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                return;
            case ulong ul:
                WriteBig(w, ul);
                return;
            case BigInteger big:
                WriteBig(w, big);
                return;
            case Int128 i128:
                WriteBig(w, i128);
                return;
            case UInt128 u128:
                WriteBig(w, u128);
                return;
            case float f:
                WriteFloat(w, f);
                return;
            case char c:
                WriteStr(w, c.ToString());
                return;
            case ReadOnlyMemory<byte> rom:
                WriteBytes(w, rom.Span);
                return;
            case Memory<byte> mem:
                WriteBytes(w, mem.Span);
                return;
            case ArraySegment<byte> seg:
                WriteBytes(w, seg);
                return;
            case Enum e:
                WriteBig(w, Enum.GetUnderlyingType(e.GetType()) == typeof(ulong)
                    ? System.Convert.ToUInt64(e, System.Globalization.CultureInfo.InvariantCulture)
                    : System.Convert.ToInt64(e, System.Globalization.CultureInfo.InvariantCulture));
                return;
            case IDictionary dict:
                WriteDict(w, dict, Enter(depth, value));
                return;
            case ITuple tuple:
                WriteTuple(w, tuple, Enter(depth, value));
                return;
            case IEnumerable seq:
                WriteList(w, seq, Enter(depth, value));
                return;
            default:
                throw new ValueConversionException(
                    $"cannot pickle {MsgPackValues.DescribeType(value.GetType())}: PickleValues writes None, bool, int, float, str, bytes, list, tuple and dict only");
        }
    }

    private static int Enter(int depth, object value)
    {
        if (depth <= 0)
        {
            throw new ValueConversionException(
                $"cannot pickle {MsgPackValues.DescribeType(value.GetType())}: nested deeper than the limit (a cycle?)");
        }
        return depth - 1;
    }

    private static void WriteInt(ArrayBufferWriter<byte> w, long v)
    {
        Span<byte> b = stackalloc byte[4];
        if (v is >= 0 and < 256)
        {
            Put(w, (byte)'K');
            Put(w, (byte)v);
        }
        else if (v is >= 0 and < 65536)
        {
            Put(w, (byte)'M');
            BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v);
            Put(w, b[..2]);
        }
        else if (v is >= int.MinValue and <= int.MaxValue)
        {
            Put(w, (byte)'J');
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            Put(w, b);
        }
        else
        {
            WriteLong(w, v);
        }
    }

    private static void WriteBig(ArrayBufferWriter<byte> w, BigInteger v)
    {
        if (v >= long.MinValue && v <= long.MaxValue)
        {
            WriteInt(w, (long)v);
        }
        else
        {
            WriteLong(w, v);
        }
    }

    private static void WriteLong(ArrayBufferWriter<byte> w, BigInteger v)
    {
        // pickle.encode_long: minimal two's complement, little-endian (ToByteArray's form).
        byte[] bytes = v.ToByteArray();
        if (bytes.Length < 256)
        {
            Put(w, 0x8a);
            Put(w, bytes.Length);
        }
        else
        {
            Put(w, 0x8b);
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(n, bytes.Length);
            Put(w, n);
        }
        Put(w, bytes);
    }

    private static void WriteFloat(ArrayBufferWriter<byte> w, double d)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, d);
        Put(w, (byte)'G');
        Put(w, b);
    }

    private static void WriteStr(ArrayBufferWriter<byte> w, string s)
    {
        byte[] utf8 = EncodeUtf8(s);
        WriteSized(w, utf8, 0x8c, (byte)'X');
    }

    private static void WriteBytes(ArrayBufferWriter<byte> w, ReadOnlySpan<byte> bytes) => WriteSized(w, bytes, (byte)'C', (byte)'B');

    private static void WriteSized(ArrayBufferWriter<byte> w, ReadOnlySpan<byte> bytes, byte shortOp, byte op)
    {
        if (bytes.Length < 256)
        {
            Put(w, shortOp);
            Put(w, bytes.Length);
        }
        else
        {
            Put(w, op);
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(n, (uint)bytes.Length);
            Put(w, n);
        }
        Put(w, bytes);
    }

    private static void WriteList(ArrayBufferWriter<byte> w, IEnumerable seq, int depth)
    {
        Put(w, (byte)']');
        int inBatch = 0;
        foreach (object? item in seq)
        {
            if (inBatch == 0)
            {
                Put(w, (byte)'(');
            }
            WriteValue(w, item, depth);
            if (++inBatch == BatchSize)
            {
                Put(w, (byte)'e');
                inBatch = 0;
            }
        }
        if (inBatch > 0)
        {
            Put(w, (byte)'e');
        }
    }

    private static void WriteTuple(ArrayBufferWriter<byte> w, ITuple tuple, int depth)
    {
        int n = tuple.Length;
        if (n == 0)
        {
            Put(w, (byte)')');
            return;
        }
        if (n > 3)
        {
            Put(w, (byte)'(');
        }
        for (int i = 0; i < n; i++)
        {
            WriteValue(w, tuple[i], depth);
        }
        Put(w, n switch { 1 => 0x85, 2 => 0x86, 3 => 0x87, _ => (byte)'t' });
    }

    private static void WriteDict(ArrayBufferWriter<byte> w, IDictionary dict, int depth)
    {
        Put(w, (byte)'}');
        int inBatch = 0;
        var e = dict.GetEnumerator();
        try
        {
            while (e.MoveNext())
            {
                if (inBatch == 0)
                {
                    Put(w, (byte)'(');
                }
                WriteValue(w, e.Key, depth);
                WriteValue(w, e.Value, depth);
                if (++inBatch == BatchSize)
                {
                    Put(w, (byte)'u');
                    inBatch = 0;
                }
            }
        }
        finally
        {
            (e as IDisposable)?.Dispose();
        }
        if (inBatch > 0)
        {
            Put(w, (byte)'u');
        }
    }

    /// <summary>UTF-8 as Python's pickle writes a str: a lone surrogate is kept (encoded as its own 3 bytes, "surrogatepass").</summary>
    internal static byte[] EncodeUtf8(string s)
    {
        try
        {
            return s_strictUtf8.GetBytes(s);
        }
        catch (EncoderFallbackException)
        {
            var bytes = new List<byte>(s.Length * 3);
            for (int i = 0; i < s.Length; i++)
            {
                int cp = s[i];
                if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    cp = char.ConvertToUtf32(s[i], s[i + 1]);
                    i++;
                }
                AppendUtf8(bytes, cp);
            }
            return bytes.ToArray();
        }
    }

    private static void AppendUtf8(List<byte> bytes, int cp)
    {
        if (cp < 0x80)
        {
            bytes.Add((byte)cp);
        }
        else if (cp < 0x800)
        {
            bytes.Add((byte)(0xC0 | (cp >> 6)));
            bytes.Add((byte)(0x80 | (cp & 0x3F)));
        }
        else if (cp < 0x10000)
        {
            bytes.Add((byte)(0xE0 | (cp >> 12)));
            bytes.Add((byte)(0x80 | ((cp >> 6) & 0x3F)));
            bytes.Add((byte)(0x80 | (cp & 0x3F)));
        }
        else
        {
            bytes.Add((byte)(0xF0 | (cp >> 18)));
            bytes.Add((byte)(0x80 | ((cp >> 12) & 0x3F)));
            bytes.Add((byte)(0x80 | ((cp >> 6) & 0x3F)));
            bytes.Add((byte)(0x80 | (cp & 0x3F)));
        }
    }

    /// <summary>UTF-8 as Python's unpickler reads a str ("surrogatepass": an encoded lone surrogate is kept).</summary>
    /// <exception cref="PickleFormatException">Not UTF-8 even so.</exception>
    internal static string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return s_strictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            var sb = new StringBuilder(bytes.Length);
            int i = 0;
            while (i < bytes.Length)
            {
                byte b = bytes[i];
                int n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
                if (n == 0 || i + n > bytes.Length)
                {
                    throw new PickleFormatException($"a str that is not UTF-8 (byte 0x{b:x2} at {i})");
                }
                int cp = n == 1 ? b : b & (0xFF >> (n + 1));
                for (int k = 1; k < n; k++)
                {
                    if ((bytes[i + k] & 0xC0) != 0x80)
                    {
                        throw new PickleFormatException($"a str that is not UTF-8 (byte 0x{bytes[i + k]:x2} at {i + k})");
                    }
                    cp = (cp << 6) | (bytes[i + k] & 0x3F);
                }
                int min = n switch { 1 => 0, 2 => 0x80, 3 => 0x800, _ => 0x10000 };
                if (cp < min || cp > 0x10FFFF)
                {
                    throw new PickleFormatException($"a str that is not UTF-8 (bad sequence at {i})");
                }
                if (cp >= 0x10000)
                {
                    sb.Append(char.ConvertFromUtf32(cp));
                }
                else
                {
                    sb.Append((char)cp); // a lone surrogate (D800-DFFF) included, as "surrogatepass"
                }
                i += n;
            }
            return sb.ToString();
        }
    }

    // ---- reading ---------------------------------------------------------------------------------

    private const string Readable = "PickleValues reads the pickles of None, bool, int, float, str, bytes, list, tuple and dict only (nothing is ever run)";

    private sealed class Reader
    {
        private List<object?> _stack = [];
        private readonly Stack<List<object?>> _marks = new();
        private readonly Dictionary<long, object?> _memo = [];

        public object? Run(ReadOnlySpan<byte> d)
        {
            int pos = 0;
            while (true)
            {
                if (pos >= d.Length)
                {
                    throw Malformed("it ends without STOP");
                }
                int at = pos;
                byte op = d[pos++];
                switch (op)
                {
                    case 0x80: // PROTO
                        int proto = Take(d, ref pos, 1)[0];
                        if (proto > 5)
                        {
                            throw new PickleFormatException($"pickle protocol {proto} is newer than PickleValues reads (2 to 5)");
                        }
                        break;
                    case 0x95: // FRAME: a read-ahead hint, nothing to build
                        Take(d, ref pos, 8);
                        break;
                    case (byte)'.': // STOP
                        if (_stack.Count == 0 || _marks.Count > 0)
                        {
                            throw Malformed("STOP with an empty stack or an open MARK");
                        }
                        return _stack[^1];
                    case (byte)'N':
                        _stack.Add(null);
                        break;
                    case 0x88:
                        _stack.Add(true);
                        break;
                    case 0x89:
                        _stack.Add(false);
                        break;
                    case (byte)'K': // BININT1
                        _stack.Add((long)Take(d, ref pos, 1)[0]);
                        break;
                    case (byte)'M': // BININT2
                        _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(d, ref pos, 2)));
                        break;
                    case (byte)'J': // BININT
                        _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(d, ref pos, 4)));
                        break;
                    case 0x8a: // LONG1
                        _stack.Add(Long(Take(d, ref pos, Take(d, ref pos, 1)[0])));
                        break;
                    case 0x8b: // LONG4
                        _stack.Add(Long(Take(d, ref pos, Length(BinaryPrimitives.ReadInt32LittleEndian(Take(d, ref pos, 4))))));
                        break;
                    case (byte)'G': // BINFLOAT
                        _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(d, ref pos, 8)));
                        break;
                    case 0x8c: // SHORT_BINUNICODE
                        _stack.Add(DecodeUtf8(Take(d, ref pos, Take(d, ref pos, 1)[0])));
                        break;
                    case (byte)'X': // BINUNICODE
                        _stack.Add(DecodeUtf8(Take(d, ref pos, Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(d, ref pos, 4))))));
                        break;
                    case 0x8d: // BINUNICODE8
                        _stack.Add(DecodeUtf8(Take(d, ref pos, Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(d, ref pos, 8))))));
                        break;
                    case (byte)'C': // SHORT_BINBYTES
                        _stack.Add(Take(d, ref pos, Take(d, ref pos, 1)[0]).ToArray());
                        break;
                    case (byte)'B': // BINBYTES
                        _stack.Add(Take(d, ref pos, Length(BinaryPrimitives.ReadUInt32LittleEndian(Take(d, ref pos, 4)))).ToArray());
                        break;
                    case 0x8e: // BINBYTES8
                    case 0x96: // BYTEARRAY8 (protocol 5's bytearray): bytes here
                        _stack.Add(Take(d, ref pos, Length(BinaryPrimitives.ReadUInt64LittleEndian(Take(d, ref pos, 8)))).ToArray());
                        break;
                    case (byte)']':
                        _stack.Add(new List<object?>());
                        break;
                    case (byte)')':
                        _stack.Add(PickleTuple.Own([]));
                        break;
                    case (byte)'}':
                        _stack.Add(new Dictionary<object, object?>());
                        break;
                    case (byte)'(': // MARK
                        _marks.Push(_stack);
                        _stack = [];
                        break;
                    case (byte)'a': // APPEND
                    {
                        object? v = Pop();
                        ListOnTop("APPEND").Add(v);
                        break;
                    }
                    case (byte)'e': // APPENDS
                    {
                        var items = PopMark();
                        ListOnTop("APPENDS").AddRange(items);
                        break;
                    }
                    case (byte)'l': // LIST (PopMark first: it swaps _stack)
                    {
                        var items = PopMark();
                        _stack.Add(items);
                        break;
                    }
                    case (byte)'t': // TUPLE
                    {
                        var items = PopMark();
                        _stack.Add(Tuple(items.ToArray()));
                        break;
                    }
                    case 0x85:
                    case 0x86:
                    case 0x87: // TUPLE1-3
                    {
                        int n = op - 0x84;
                        if (_stack.Count < n)
                        {
                            throw Malformed($"TUPLE{n} with {_stack.Count} items on the stack");
                        }
                        var items = _stack.GetRange(_stack.Count - n, n).ToArray();
                        _stack.RemoveRange(_stack.Count - n, n);
                        _stack.Add(Tuple(items));
                        break;
                    }
                    case (byte)'s': // SETITEM
                    {
                        object? v = Pop();
                        object? k = Pop();
                        DictOnTop("SETITEM")[Key(k)] = v;
                        break;
                    }
                    case (byte)'u': // SETITEMS
                    {
                        var items = PopMark();
                        SetItems(DictOnTop("SETITEMS"), items);
                        break;
                    }
                    case (byte)'d': // DICT
                    {
                        var items = PopMark();
                        var dict = new Dictionary<object, object?>();
                        SetItems(dict, items);
                        _stack.Add(dict);
                        break;
                    }
                    case (byte)'0': // POP
                        if (_stack.Count > 0)
                        {
                            _stack.RemoveAt(_stack.Count - 1);
                        }
                        else
                        {
                            PopMark();
                        }
                        break;
                    case (byte)'1': // POP_MARK
                        PopMark();
                        break;
                    case (byte)'2': // DUP
                        _stack.Add(Top("DUP"));
                        break;
                    case 0x94: // MEMOIZE
                        _memo[_memo.Count] = Top("MEMOIZE");
                        break;
                    case (byte)'q': // BINPUT
                        _memo[Take(d, ref pos, 1)[0]] = Top("BINPUT");
                        break;
                    case (byte)'r': // LONG_BINPUT
                        _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(d, ref pos, 4))] = Top("LONG_BINPUT");
                        break;
                    case (byte)'h': // BINGET
                        _stack.Add(Memo(Take(d, ref pos, 1)[0]));
                        break;
                    case (byte)'j': // LONG_BINGET
                        _stack.Add(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(d, ref pos, 4))));
                        break;
                    // ---- refused: each would name or build an object of some Python class ----
                    case 0x93: // STACK_GLOBAL
                    {
                        object? name = _stack.Count > 0 ? Pop() : null;
                        object? module = _stack.Count > 0 ? Pop() : null;
                        throw Refused(module is string m && name is string n ? $"{m}.{n}" : null);
                    }
                    case (byte)'c': // GLOBAL "module\nname\n"
                    {
                        string module = Line(d, ref pos);
                        string name = Line(d, ref pos);
                        throw Refused($"{module}.{name}");
                    }
                    case 0x8f: // EMPTY_SET
                    case 0x90: // ADDITEMS
                        throw Refused("builtins.set");
                    case 0x91: // FROZENSET
                        throw Refused("builtins.frozenset");
                    case 0x82:
                    case 0x83:
                    case 0x84: // EXT1/2/4
                        throw new PickleFormatException($"the pickle holds an object registered by copyreg extension code (opcode EXT at {at}); {Readable}");
                    case (byte)'P':
                    case (byte)'Q':
                        throw new PickleFormatException($"the pickle holds a persistent id (opcode at {at}); {Readable}");
                    case 0x97:
                    case 0x98:
                        throw new PickleFormatException($"the pickle holds an out-of-band buffer (pickle.PickleBuffer); {Readable}", "pickle.PickleBuffer");
                    default:
                        throw new PickleFormatException($"pickle opcode {OpName(op)} (0x{op:x2} at {at}) is not read: {Readable}");
                }
            }
        }

        private static PickleTuple Tuple(object?[] items)
        {
            var t = PickleTuple.Own(items);
            return t.Depth > MaxTupleDepth ? throw Malformed($"tuples nested deeper than {MaxTupleDepth}") : t;
        }

        private static PickleFormatException Refused(string? type) =>
            new(type is null
                ? $"the pickle holds an object of a Python class; {Readable}"
                : $"cannot read a pickled {type}: {Readable}", type);

        private static PickleFormatException Malformed(string why) => new($"malformed pickle: {why}");

        private static ReadOnlySpan<byte> Take(ReadOnlySpan<byte> d, ref int pos, int n)
        {
            if (n > d.Length - pos)
            {
                throw Malformed($"it ends inside a value ({n} bytes wanted at {pos}, {d.Length - pos} left)");
            }
            var s = d.Slice(pos, n);
            pos += n;
            return s;
        }

        private static int Length(long n) =>
            n is < 0 or > int.MaxValue ? throw Malformed($"a length of {n}") : (int)n;

        private static int Length(ulong n) => n > int.MaxValue ? throw Malformed($"a length of {n}") : (int)n;

        private static object Long(ReadOnlySpan<byte> bytes)
        {
            var v = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
            return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
        }

        private static string Line(ReadOnlySpan<byte> d, ref int pos)
        {
            int nl = d[pos..].IndexOf((byte)'\n');
            if (nl < 0)
            {
                throw Malformed("GLOBAL without its newline");
            }
            string s = Encoding.UTF8.GetString(d.Slice(pos, Math.Min(nl, 200)));
            pos += nl + 1;
            return s;
        }

        private object? Pop()
        {
            if (_stack.Count == 0)
            {
                throw Malformed("an opcode pops an empty stack");
            }
            object? v = _stack[^1];
            _stack.RemoveAt(_stack.Count - 1);
            return v;
        }

        private object? Top(string op) => _stack.Count > 0 ? _stack[^1] : throw Malformed($"{op} on an empty stack");

        private List<object?> PopMark()
        {
            if (_marks.Count == 0)
            {
                throw Malformed("no MARK to pop to");
            }
            var items = _stack;
            _stack = _marks.Pop();
            return items;
        }

        private List<object?> ListOnTop(string op) => Top(op) as List<object?> ?? throw Malformed($"{op} onto something that is not a list");

        private Dictionary<object, object?> DictOnTop(string op) => Top(op) as Dictionary<object, object?> ?? throw Malformed($"{op} onto something that is not a dict");

        private object? Memo(long index) => _memo.TryGetValue(index, out var v) ? v : throw Malformed($"memo {index} was never stored");

        private static void SetItems(Dictionary<object, object?> dict, List<object?> items)
        {
            if (items.Count % 2 != 0)
            {
                throw Malformed("an odd number of items for a dict");
            }
            for (int i = 0; i < items.Count; i += 2)
            {
                dict[Key(items[i])] = items[i + 1];
            }
        }

        private static object Key(object? k) => k switch
        {
            null => throw new PickleFormatException("a dict with the key None, which a .NET dictionary cannot hold"),
            List<object?> or Dictionary<object, object?> => throw Malformed("a dict key is a list or a dict"),
            _ => k,
        };

        private static string OpName(byte op) => op switch
        {
            (byte)'R' => "REDUCE",
            (byte)'b' => "BUILD",
            0x81 => "NEWOBJ",
            0x92 => "NEWOBJ_EX",
            (byte)'i' => "INST",
            (byte)'o' => "OBJ",
            (byte)'I' => "INT (protocol 0)",
            (byte)'L' => "LONG (protocol 0)",
            (byte)'F' => "FLOAT (protocol 0)",
            (byte)'S' => "STRING (protocol 0)",
            (byte)'T' => "BINSTRING (Python 2 str)",
            (byte)'U' => "SHORT_BINSTRING (Python 2 str)",
            (byte)'V' => "UNICODE (protocol 0)",
            (byte)'p' => "PUT (protocol 0)",
            (byte)'g' => "GET (protocol 0)",
            _ => "unknown",
        };
    }
}

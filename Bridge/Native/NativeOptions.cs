using Bridge.Internal;
using MessagePack;

namespace Bridge.Native;

/// <summary>Parses the options map of <c>db_pool_create</c> (ABI.md "Python wrapper") into <see cref="PoolCoreOptions"/>.</summary>
internal static class NativeOptions
{
    /// <summary>Parses a packed MessagePack map with string keys; unknown keys are ignored, nil means default.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type.</exception>
    public static PoolCoreOptions Parse(byte[] data)
    {
        var o = new PoolCoreOptions();
        if (data.Length == 0)
            return o;
        var r = new MessagePackReader(data);
        int n = r.ReadMapHeader();
        for (int i = 0; i < n; i++)
        {
            string key = r.ReadString() ?? "";
            if (r.TryReadNil())
                continue;
            switch (key)
            {
                case "processes": o.Processes = r.ReadInt32(); break;
                case "python": o.Python = r.ReadString() ?? o.Python; break;
                case "python_args": o.PythonArgs = Strings(ref r); break;
                case "python_init": o.PythonInit = Bytes(ref r); break;
                case "sys_path": o.SysPath = Strings(ref r); break;
                case "dotnet_worker": o.DotNetWorker = Strings(ref r); break;
                case "maxtasksperchild": o.MaxTasksPerChild = r.ReadInt32(); break;
                case "prestart":
                    o.Prestart = Strings(ref r).Select(s => s switch
                    {
                        "python" => WorkerKind.Python,
                        "dotnet" => WorkerKind.DotNet,
                        _ => throw new ArgumentException($"prestart: unknown worker kind '{s}'"),
                    }).ToArray();
                    break;
                case "env":
                {
                    var env = new Dictionary<string, string>();
                    int m = r.ReadMapHeader();
                    for (int j = 0; j < m; j++)
                        env[r.ReadString() ?? ""] = r.ReadString() ?? "";
                    o.Env = env;
                    break;
                }
                case "max_frame_bytes": o.MaxFrameBytes = r.ReadInt32(); break;
                case "initializer": o.Initializer = r.ReadString(); break;
                case "initargs":
                {
                    int start = (int)r.Consumed;
                    r.Skip();
                    o.InitArgs = data[start..(int)r.Consumed];
                    break;
                }
                case "assemblies": o.Assemblies = Strings(ref r); break;
                case "interpreter_start": o.PythonHost = new NativeWorkerHost(r.ReadInt64()); break;
                default: r.Skip(); break;
            }
        }
        return o;
    }

    private static string[] Strings(ref MessagePackReader r)
    {
        int n = r.ReadArrayHeader();
        var a = new string[n];
        for (int i = 0; i < n; i++)
            a[i] = r.ReadString() ?? "";
        return a;
    }

    private static byte[] Bytes(ref MessagePackReader r)
    {
        if (r.NextMessagePackType == MessagePackType.String)
            return System.Text.Encoding.UTF8.GetBytes(r.ReadString() ?? "");
        var seq = r.ReadBytes();
        return seq.HasValue ? System.Buffers.BuffersExtensions.ToArray(seq.Value) : [];
    }
}

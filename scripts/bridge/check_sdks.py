"""The vendors' own Python SDKs against Spelunk's simulated arm.

Usage: python check_sdks.py feetech|dynamixel PTY_PATH

Talks to `spelunk bridge sim` over its pseudo-terminal with `scservo_sdk` (feetech-servo-sdk)
or `dynamixel_sdk`, as LeRobot does: ping every servo (model number), read and write the
registers LeRobot uses (torque, lock, homing offset, position limits, goal, present position,
velocity, temperature), sync read the present positions, sync write goals, and check that the
arm moves to them. Prints one line per check and exits non-zero on the first failure.
"""

import sys
import time

IDS = [1, 2, 3, 4, 5, 6]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


def feetech(path):
    import scservo_sdk as scs

    port = scs.PortHandler(path)
    check(port.openPort(), f"open {path}")
    check(port.setBaudRate(1_000_000), "baud 1 Mbit/s")
    ph = scs.PacketHandler(0)  # STS: little-endian words
    ok = scs.COMM_SUCCESS
    for i in IDS:
        model, res, err = ph.ping(port, i)
        check(res == ok and err == 0 and model == 777, f"ping servo {i}: model {model} (STS3215 is 777)")
    temp, res, err = ph.read1ByteTxRx(port, 1, 63)
    check(res == ok and 0 < temp < 100, f"Present_Temperature (63) of servo 1: {temp} °C")
    lo, res, _ = ph.read2ByteTxRx(port, 1, 9)
    hi, res2, _ = ph.read2ByteTxRx(port, 1, 11)
    check(res == ok and res2 == ok and lo < hi, f"Min/Max_Position_Limit (9, 11): {lo}..{hi}")
    # Homing offset: unlock, write, read back, lock (as LeRobot's calibration does).
    check(ph.write1ByteTxRx(port, 2, 55, 0)[0] == ok, "Lock (55) = 0 on servo 2")
    check(ph.write2ByteTxRx(port, 2, 31, 100)[0] == ok, "Homing_Offset (31) = 100 on servo 2")
    off, res, _ = ph.read2ByteTxRx(port, 2, 31)
    check(res == ok and off == 100, f"Homing_Offset reads back {off}")
    check(ph.write2ByteTxRx(port, 2, 31, 0)[0] == ok and ph.write1ByteTxRx(port, 2, 55, 1)[0] == ok, "offset reset, locked")
    # Sync read of Present_Position (56, 2 bytes).
    reader = scs.GroupSyncRead(port, ph, 56, 2)
    for i in IDS:
        reader.addParam(i)
    check(reader.txRxPacket() == ok, "sync read of Present_Position (56) from 6 servos")
    present = {i: reader.getData(i, 56, 2) for i in IDS}
    check(all(0 <= p < 4096 for p in present.values()), f"positions {present}")
    # Torque on, then a sync write of goals: servo 1 moves 200 ticks.
    for i in IDS:
        check(ph.write1ByteTxRx(port, i, 40, 1)[0] == ok, f"Torque_Enable (40) = 1 on servo {i}")
    writer = scs.GroupSyncWrite(port, ph, 42, 2)
    goal = dict(present)
    goal[1] = present[1] + 200
    for i in IDS:
        writer.addParam(i, [goal[i] & 0xFF, (goal[i] >> 8) & 0xFF])
    check(writer.txPacket() == ok, f"sync write of Goal_Position (42): servo 1 → {goal[1]}")
    deadline = time.time() + 3
    now = present[1]
    while time.time() < deadline:
        now, res, _ = ph.read2ByteTxRx(port, 1, 56)
        if res == ok and abs(now - goal[1]) <= 3:
            break
        time.sleep(0.05)
    check(abs(now - goal[1]) <= 3, f"servo 1 reached {now} (goal {goal[1]})")
    vel, res, _ = ph.read2ByteTxRx(port, 1, 58)
    check(res == ok, f"Present_Velocity (58): {vel}")
    g, res, _ = ph.read2ByteTxRx(port, 1, 42)
    check(res == ok and g == goal[1], f"Goal_Position reads back {g}")
    for i in IDS:
        ph.write1ByteTxRx(port, i, 40, 0)
    port.closePort()


def dynamixel(path):
    import dynamixel_sdk as dxl

    port = dxl.PortHandler(path)
    check(port.openPort(), f"open {path}")
    check(port.setBaudRate(1_000_000), "baud 1 Mbit/s")
    ph = dxl.PacketHandler(2.0)
    ok = dxl.COMM_SUCCESS
    for i in IDS:
        model, res, err = ph.ping(port, i)
        check(res == ok and err == 0 and model == 1200, f"ping servo {i}: model {model} (XL330-M288 is 1200)")
    temp, res, _ = ph.read1ByteTxRx(port, 1, 146)
    check(res == ok and 0 < temp < 100, f"Present_Temperature (146): {temp} °C")
    # 0x00FDFFFF is written FF FF FD 00: both packets need byte stuffing.
    check(ph.write4ByteTxRx(port, 3, 20, 0x00FDFFFF)[0] == ok, "Homing_Offset (20) = 0x00FDFFFF on servo 3 (byte stuffing both ways)")
    off, res, _ = ph.read4ByteTxRx(port, 3, 20)
    check(res == ok and off == 0x00FDFFFF, f"Homing_Offset reads back {off:#010x}")
    check(ph.write4ByteTxRx(port, 3, 20, 0)[0] == ok, "offset reset")
    reader = dxl.GroupSyncRead(port, ph, 132, 4)
    for i in IDS:
        reader.addParam(i)
    check(reader.txRxPacket() == ok, "sync read of Present_Position (132) from 6 servos")
    present = {i: reader.getData(i, 132, 4) for i in IDS}
    check(all(0 <= p < 4096 for p in present.values()), f"positions {present}")
    for i in IDS:
        check(ph.write1ByteTxRx(port, i, 64, 1)[0] == ok, f"Torque_Enable (64) = 1 on servo {i}")
    writer = dxl.GroupSyncWrite(port, ph, 116, 4)
    goal = dict(present)
    goal[1] = present[1] - 200
    for i in IDS:
        writer.addParam(i, list(int(goal[i]).to_bytes(4, "little")))
    check(writer.txPacket() == ok, f"sync write of Goal_Position (116): servo 1 → {goal[1]}")
    deadline = time.time() + 3
    now = present[1]
    while time.time() < deadline:
        now, res, _ = ph.read4ByteTxRx(port, 1, 132)
        if res == ok and abs(now - goal[1]) <= 3:
            break
        time.sleep(0.05)
    check(abs(now - goal[1]) <= 3, f"servo 1 reached {now} (goal {goal[1]})")
    res, err = ph.write1ByteTxRx(port, 1, 250, 1)
    check(res == ok and err & 0x7F == 7, f"a write to a missing register answers an access error ({err})")
    for i in IDS:
        ph.write1ByteTxRx(port, i, 64, 0)
    port.closePort()


if __name__ == "__main__":
    {"feetech": feetech, "dynamixel": dynamixel}[sys.argv[1]](sys.argv[2])

"""A fake ``machine`` for tests: PWM, UART and Pin print each call, one line each, e.g.
``PWM.freq 523`` or ``UART.write 90 48 50`` (bytes in hex), so a test reads them in order."""


def unique_id():
    return b"\xfa\x4e\x00\x01"


class Pin:
    def __init__(self, number, *args, **kwargs):
        self.number = number


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        print("PWM.init pin=%d freq=%s duty_u16=%s" % (pin.number, freq, duty_u16))

    def freq(self, value):
        print("PWM.freq %d" % value)

    def duty_u16(self, value):
        print("PWM.duty_u16 %d" % value)


class UART:
    def __init__(self, uart_id, baudrate=None, tx=None):
        print("UART.init id=%d baudrate=%d tx=%d" % (uart_id, baudrate, tx.number))

    def write(self, data):
        print("UART.write " + " ".join("%02x" % b for b in data))
        return len(data)

//! appliance-hardware: the parts of the room the therapist touches and sees.
